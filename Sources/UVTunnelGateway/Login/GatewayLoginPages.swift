import UVTunnel

/// The HTTP answers of the bundled test gateway's sign-in flow, modelled on
/// Pomerium's programmatic login: the login endpoint answers with the sign-in
/// URL as text, the sign-in page offers one "approve" button, and approving
/// redirects the browser to the client's local callback with the token.
public enum GatewayLoginPages {
    /// The redirect must point at the local machine, as Pomerium requires:
    /// plain http to localhost, 127.0.0.1 or [::1], any port, path and query.
    /// HTTPURL already refuses userinfo (`http://127.0.0.1@evil.com/`) and
    /// compares the whole host, so `127.0.0.1.evil.com` cannot pass.
    public static func validateRedirectURI(_ text: String) -> HTTPURL? {
        guard let url = try? HTTPURL.parse(text), url.scheme == "http",
              loopbackHosts.contains(url.host)
        else { return nil }
        return url
    }

    static let loopbackHosts: Set<String> = ["localhost", "127.0.0.1", "::1"]

    /// The login endpoint's answer: the sign-in URL as the whole text body.
    public static func loginResponse(signInURL: String) -> [UInt8] {
        SimpleResponse.plain(status: 200, reason: "OK", text: signInURL)
    }

    /// A one-button page; pressing it GETs `approveURL` with `redirect_uri`.
    /// A GET form replaces the action's query with its fields, so any query
    /// already on `approveURL` is carried over as hidden fields too.
    public static func signInPage(redirectURI: String, approveURL: String) -> [UInt8] {
        let question = approveURL.utf8.firstIndex(of: UInt8(ascii: "?")) ?? approveURL.endIndex
        let action = String(approveURL[..<question])
        let carried = question == approveURL.endIndex
            ? [] : PercentEncoding.parseQuery(approveURL[approveURL.utf8.index(after: question)...])
        var fields = ""
        for (name, value) in carried + [("redirect_uri", redirectURI)] {
            fields += "<input type=\"hidden\" name=\"\(HTMLText.escape(name))\" value=\"\(HTMLText.escape(value))\">\n"
        }
        let body = """
            <h1>Sign in to the uvtunnel test gateway</h1>
            <p>Continue to \(HTMLText.escape(redirectURI))</p>
            <form method="get" action="\(HTMLText.escape(action))">
            \(fields)<button type="submit">Sign in</button>
            </form>
            """
        return SimpleResponse.html(status: 200, reason: "OK",
                                   page: HTMLText.page(title: "uvtunnel test gateway: sign in", bodyHTML: body))
    }

    /// 302 to `location`. Bytes that cannot appear in a URL (space, controls,
    /// non-ASCII) are percent-encoded so the header cannot be split.
    public static func redirect(to location: String) -> [UInt8] {
        var safe = ""
        for byte in location.utf8 {
            safe += (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "%" + PrintableText.hex(byte)
        }
        return SimpleResponse.bytes(status: 302, reason: "Found", contentType: nil, body: [],
                                    extraHeaders: [("Location", safe)])
    }

    public static func plain(status: Int, reason: String, text: String) -> [UInt8] {
        SimpleResponse.plain(status: status, reason: reason, text: text)
    }

    /// `redirectURI` with `pomerium_jwt=<token>` added to its query, the way
    /// Pomerium hands the token to pomerium-cli's local listener.
    public static func callbackLocation(redirectURI: HTTPURL, token: String) -> String {
        let base = redirectURI.description
        let separator = !base.contains("?") ? "?" : (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&")
        return base + separator + SignInCallback.tokenParameter + "=" + PercentEncoding.encodeQueryComponent(token)
    }
}
