import Foundation

/// uvtunnel serving two routes to one target from a `--config` file: the
/// tests of per-route settings and of connections shared between routes.
/// The file holds `gateway` (pomerium-url, CA, token lines), `defaults` (more
/// top-level keys), then a `[[tunnel]]` per route with that route's `extra`
/// keys; the process is started and waited for until both routes listen.
final class TwoRouteConfigTunnel {
    let process: ChildProcess
    let ports: (UInt16, UInt16)
    private let directory = TemporaryDirectory()  // the file and the token cache, for the process's life

    init(gateway: String, defaults: String, targetPort: UInt16, extra: (String, String) = ("", "")) throws {
        ports = (try freeLoopbackPort(), try freeLoopbackPort())
        let file = directory.path + "/routes.toml"
        try """
        \(gateway)
        \(defaults)

        [[tunnel]]
        listen = "127.0.0.1:\(ports.0)"
        route = "127.0.0.1:\(targetPort)"
        \(extra.0)

        [[tunnel]]
        listen = "127.0.0.1:\(ports.1)"
        route = "127.0.0.1:\(targetPort)"
        \(extra.1)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        process = try ChildProcess(Products.tunnel, ["--config", file], environment: ["XDG_CACHE_HOME": directory.path])
        process.waitForOutput { $0.components(separatedBy: "listening on").count == 3 }
    }

    /// The lines that point a config file at the bundled gateway.
    static func gatewayLines(_ gateway: GatewayFixture) throws -> String {
        """
        pomerium-url = "https://127.0.0.1:\(gateway.port)"
        alternate-ca-path = "\(gateway.caPath)"
        service-account = "\(try gateway.token())"
        """
    }

    deinit { process.stop() }
}
