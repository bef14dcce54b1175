import ArgumentParser
import Foundation
import UVTunnel
import UVTunnelGateway

/// Prints a token the gateway with the same `--state-dir` accepts.
struct IssueToken: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "issue-token", abstract: "Print a signed token (ES256 JWT) for tests and scripts.")

    @OptionGroup var state: StateOptions

    @Option(help: ArgumentHelp("Seconds until the token expires (negative: already expired).", valueName: "seconds"))
    var ttl: Int64 = 3600

    @Option(help: ArgumentHelp("The token's subject.", valueName: "name"))
    var subject: String = "test-user"

    func run() throws {
        let key = try GatewayState(directory: state.stateDirectory).signingKey()
        let now = Int64(Date().timeIntervalSince1970)
        let claims = TokenClaims(sub: subject, exp: now + ttl, iat: now)
        print(try JWT.issue(claims, key: key))
    }
}
