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
