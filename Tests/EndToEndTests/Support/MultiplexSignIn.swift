/// A `--multiplex` tunnel with no token yet, to an echo target, through a
/// gateway that approves the sign-in a scripted browser starts: the first
/// stream is redirected, the tunnel signs in once and retries.
final class MultiplexSignIn {
    let gateway: GatewayFixture
    let target: TargetServer
    let cache = TemporaryDirectory()
    let browser: ScriptedBrowser
    let tunnel: TunnelFixture

    init() throws {
        gateway = try GatewayFixture(["--auto-approve"])
        target = try TargetServer(.echo)
        browser = try ScriptedBrowser(in: cache)
        tunnel = try TunnelFixture(["--multiplex"] + signInArguments(gateway, browser, targetPort: target.port),
                                   environment: ["XDG_CACHE_HOME": cache.path])
    }

    deinit { target.stop() }
}
