import FuzzSupport
import UVTunnel

/// HTTPURL.parse and resolving: the login URL, and every redirect Location a
/// gateway (or whatever answers in its place) sends during sign-in; the
/// result goes into a request line, a Host header and TLS SNI.
/// Input: [split:2][text]; cut at the split into a base URL and a Location.
FuzzMain.run(fuzzHTTPURL)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzHTTPURL(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let (first, second) = input.split()
    let baseText = String(decoding: first, as: UTF8.self)
    let location = String(decoding: second, as: UTF8.self)

    // The whole text on its own, too: most inputs are one URL.
    _ = parsed(String(decoding: input.bytes, as: UTF8.self))
    guard let base = parsed(baseText) else { return 0 }
    let resolved: HTTPURL
    do {
        resolved = try base.resolving(location)
    } catch {
        Fuzz.checkLogLine(error.message, "resolving error")
        return 0
    }
    check(resolved)
    // A relative reference stays on the base's origin.
    if !location.contains(":") && !location.hasPrefix("//") {
        Fuzz.equal(resolved.authority, base.authority, "origin of a relative reference \(location.debugDescription)")
        Fuzz.equal(resolved.scheme, base.scheme, "scheme of a relative reference")
    }
    // An absolute Location is taken as is, whatever the base.
    Fuzz.equal(try? base.resolving(resolved.description), resolved, "resolving an absolute URL")
    return 0
}

private func parsed(_ text: String) -> HTTPURL? {
    do {
        let url = try HTTPURL.parse(text)
        check(url)
        return url
    } catch {
        Fuzz.checkLogLine(error.message, "parse error")
        return nil
    }
}

private func check(_ url: HTTPURL) {
    Fuzz.check(url.scheme == "http" || url.scheme == "https", "scheme \(url.scheme)")
    Fuzz.check(Fuzz.isVisibleASCII(url.host) && url.host == url.host.lowercased(), "host \(url.host.debugDescription)")
    Fuzz.check(url.pathAndQuery.hasPrefix("/") && Fuzz.isVisibleASCII(url.pathAndQuery), "path \(url.pathAndQuery.debugDescription)")
    Fuzz.check(!url.pathAndQuery.contains("#"), "fragment kept in \(url.pathAndQuery)")
    Fuzz.check(url.port > 0, "port 0")
    if !url.hasExplicitPort { Fuzz.equal(url.port, url.isTLS ? 443 : 80, "default port") }
    // What we print is what we use: the text parses back to the same URL,
    // so normalising (dot segments, case) is stable.
    do {
        Fuzz.equal(try HTTPURL.parse(url.description), url, "parse(description) of \(url.description)")
    } catch {
        Fuzz.fail("\(url.description) does not parse back: \(error.message)")
    }
}
