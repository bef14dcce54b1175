import Foundation

/// Where `swift build` put the executables: next to the test bundle.
enum Products {
    static let directory: URL = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // .build/debug/uvtunnelPackageTests.xctest (a file on Linux)
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("uvtunnel").path) {
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        return url
    }()

    static var tunnel: String { directory.appendingPathComponent("uvtunnel").path }
    static var gateway: String { directory.appendingPathComponent("uvtunnel-gateway").path }
}
