import UVTunnel

/// The bundled gateway's sign-in endpoints, standing in for Pomerium's
/// authenticate service:
///
/// - `GET /.pomerium/api/v1/login?pomerium_redirect_uri=URI` → 200 text/plain,
///   the URL of our sign-in page (the redirect must point at this machine,
///   as Pomerium requires; 400 otherwise);
/// - `GET /.uvtunnel/sign_in?redirect_uri=URI` → a one-button page, or with
///   `--auto-approve` a 302 straight to `URI?pomerium_jwt=<fresh token>`;
/// - `GET /.uvtunnel/approve?redirect_uri=URI` → that 302 (the button).
struct GatewayLogin {
    let issueToken: () -> String?
    let autoApprove: Bool

    enum Answer {
        case response([UInt8], status: Int, event: String)
    }

    /// `baseURL`: how the client reached us, e.g. `https://127.0.0.1:8443`.
    func answer(_ head: ConnectRequestHead, baseURL: String) -> Answer {
        let target = Substring(head.target)
        let path = target.prefix { $0 != "?" }
        let query = target.dropFirst(path.count + 1)
        let parameters = PercentEncoding.parseQuery(query)
        func parameter(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }

        switch path {
        case "/.pomerium/api/v1/login":
            guard let raw = parameter("pomerium_redirect_uri"), GatewayLoginPages.validateRedirectURI(raw) != nil else {
                return .response(GatewayLoginPages.plain(status: 400, reason: "Bad Request",
                                                         text: "pomerium_redirect_uri must be http://localhost or http://127.0.0.1"),
                                 status: 400, event: "login request refused: bad redirect")
            }
            let signIn = "\(baseURL)/.uvtunnel/sign_in?redirect_uri=\(PercentEncoding.encodeQueryComponent(raw))"
            return .response(GatewayLoginPages.loginResponse(signInURL: signIn), status: 200, event: "login request")
        case "/.uvtunnel/sign_in", "/.uvtunnel/approve":
            guard let raw = parameter("redirect_uri"), let redirect = GatewayLoginPages.validateRedirectURI(raw) else {
                return .response(GatewayLoginPages.plain(status: 400, reason: "Bad Request", text: "redirect_uri must point at this machine"),
                                 status: 400, event: "sign-in refused: bad redirect")
            }
            if path == "/.uvtunnel/sign_in" && !autoApprove {
                let approve = "/.uvtunnel/approve"
                return .response(GatewayLoginPages.signInPage(redirectURI: raw, approveURL: approve), status: 200, event: "sign-in page")
            }
            guard let token = issueToken() else {
                return .response(GatewayLoginPages.plain(status: 500, reason: "Internal Server Error", text: "cannot issue a token"),
                                 status: 500, event: "sign-in failed: no token")
            }
            return .response(GatewayLoginPages.redirect(to: GatewayLoginPages.callbackLocation(redirectURI: redirect, token: token)),
                             status: 302, event: "sign-in approved")
        default:
            return .response(GatewayLoginPages.plain(status: 404, reason: "Not Found", text: "not found"), status: 404, event: "not found")
        }
    }
}
