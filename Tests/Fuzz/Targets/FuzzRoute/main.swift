import FuzzSupport
import UVTunnel

/// ROUTE and --pomerium-url (Route.parse): text from the command line, a
/// script or an ssh config, copied into the CONNECT line, the Host header and
/// TLS SNI. Input: [split:2][option:1][text]; the text is cut at the split
/// into ROUTE and --pomerium-url (none when the option byte is odd).
FuzzMain.run(fuzzRoute)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzRoute(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let withURL = input.takeByte() & 1 == 0
    let (first, second) = withURL ? input.split() : (input.bytes, [][...])
    let routeText = String(decoding: first, as: UTF8.self)
    let urlText: String? = withURL ? String(decoding: second, as: UTF8.self) : nil

    let route: Route
    do {
        route = try Route.parse(routeText, pomeriumURL: urlText)
    } catch {
        Fuzz.checkLogLine(error.message, "route error")
        return 0
    }
    checkInvariants(route)
    checkRoundTrips(route)
    return 0
}

private func checkInvariants(_ route: Route) {
    // Anything else here could split the request line or the SNI name.
    Fuzz.check(Fuzz.isVisibleASCII(route.destination), "destination \(route.destination.debugDescription)")
    Fuzz.check(Fuzz.isVisibleASCII(route.gatewayHost), "gateway host \(route.gatewayHost.debugDescription)")
    Fuzz.check(!route.gatewayHost.contains("[") && !route.gatewayHost.contains("@"), "gateway host \(route.gatewayHost)")
    Fuzz.check(route.gatewayPort > 0, "gateway port 0")
    Fuzz.check(!route.destination.hasSuffix(":0"), "destination port 0")
}

/// What the parser produced, written back in the forms the README lists,
/// must parse to the same route; and the CONNECT request built from it must
/// read back (with the gateway's parser) as exactly that destination.
private func checkRoundTrips(_ route: Route) {
    let scheme = route.useTLS ? "https" : "http"
    let gatewayURL = "\(scheme)://\(route.gatewayAuthority)"
    for (text, url) in [(route.destination, gatewayURL), ("\(gatewayURL)/\(route.destination)", nil)] {
        do {
            Fuzz.equal(try Route.parse(text, pomeriumURL: url), route, "Route.parse(\(text.debugDescription), \(String(describing: url)))")
        } catch {
            Fuzz.fail("\(text.debugDescription) no longer parses: \(error.message)")
        }
    }
    // The plain host:port form means "gateway = destination host, port 443".
    let plain = try? Route.parse(route.destination, pomeriumURL: nil)
    Fuzz.check(plain?.destination == route.destination && plain?.gatewayPort == 443 && plain?.useTLS == true,
               "host:port form of \(route.destination)")

    let request = ConnectRequest.encode(authority: route.destination, userAgent: "fuzz", credential: .pomeriumToken("a.b.c"))
    var parser = ConnectRequestParser()
    guard case .complete(let head, let consumed)? = try? parser.feed(request) else {
        Fuzz.fail("our CONNECT request for \(route.destination) does not parse")
    }
    Fuzz.equal(consumed, request.count, "CONNECT request length")
    Fuzz.equal(head.method, "CONNECT", "method")
    Fuzz.equal(head.target, route.destination, "CONNECT target")
    Fuzz.equal(head.value(of: "Host"), route.destination, "Host header")
    Fuzz.equal(head.pomeriumToken(), "a.b.c", "token read back")
}
