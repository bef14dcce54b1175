import Foundation

/// A `--browser-cmd` that follows the sign-in URL with curl (the bundled
/// gateway's `--auto-approve` page redirects straight to the callback) and
/// counts its starts in `log`, so a test can tell whether a sign-in happened.
struct ScriptedBrowser {
    let command: String
    let log: String

    /// `before`: shell lines run first (a delay, junk sent to the callback port).
    init(in directory: TemporaryDirectory, before: String = "") throws {
        log = directory.path + "/browser.log"
        command = directory.path + "/browser.sh"
        try """
        #!/bin/sh
        echo "started $1" >> '\(log)'
        \(before)
        exec curl -sSLk --max-time 20 -o /dev/null "$1"
        """.write(toFile: command, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: command)
    }

    var starts: Int {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}

/// uvtunnel's arguments for a tunnel to `targetPort` through `gateway` that signs
/// in with `browser` (no service account: the token comes from the cache or a sign-in).
func signInArguments(_ gateway: GatewayFixture, _ browser: ScriptedBrowser, targetPort: UInt16) -> [String] {
    ["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
     "--browser-cmd", browser.command, "127.0.0.1:\(targetPort)"]
}

/// Writes `token` where uvtunnel (and pomerium-cli) look for `gateway`'s cached
/// token under `cache` (the XDG_CACHE_HOME), with `mode`; returns the file's path.
func plantCachedToken(_ token: String, for gateway: GatewayFixture, in cache: TemporaryDirectory, mode: Int = 0o600) throws -> String {
    let dir = cache.path + "/pomerium-cli/jwts"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let file = dir + "/" + (try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true"))
    try writeFile(file, token, mode: mode)
    return file
}
