import Foundation

/// A service-account token for `gateway` in a private file (`service-account-file`).
func writeTokenFile(_ gateway: GatewayFixture, in directory: TemporaryDirectory) throws -> String {
    let path = directory.path + "/token"
    try writeFile(path, gateway.token())
    return path
}

/// A `--config` file: shared defaults, then one `[[tunnel]]` per listen port and target.
func routesConfig(_ gateway: GatewayFixture, token: String, _ tunnels: [(port: UInt16, target: UInt16)]) -> String {
    var text = """
    # defaults for every tunnel
    pomerium-url = "https://127.0.0.1:\(gateway.port)"
    alternate-ca-path = "\(gateway.caPath)"
    service-account-file = "\(token)"
    drain-timeout = 5

    """
    for tunnel in tunnels {
        text += "[[tunnel]]\nlisten = \"127.0.0.1:\(tunnel.port)\"\nroute = \"127.0.0.1:\(tunnel.target)\"\n\n"
    }
    return text
}
