// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "uvtunnel",
    products: [
        .executable(name: "uvtunnel", targets: ["UVTunnelCLI"]),
        .executable(name: "uvtunnel-gateway", targets: ["UVTunnelGatewayCLI"]),
        .library(name: "UVTunnel", targets: ["UVTunnel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // A complete TOML 1.0 parser (toml++) for --config files.
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // libuv + OpenSSL, imported through one module map; the header adds only
        // static inline wrappers for what Swift cannot import (macros, casts).
        .systemLibrary(name: "CShims", path: "CShims"),
        .target(
            name: "UVTunnel",
            dependencies: [
                "CShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            // Release builds skip the runtime exclusivity checks (swift_beginAccess):
            // on the relay path, where every class property access paid one, they
            // were a fifth of the instructions per small message (perf/RESULTS.md,
            // "Instructions per relayed byte"). Debug builds, and so every test and
            // sanitizer run, keep them: a violation still fails there.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        // The bundled gateway's server side, with its signing key and certificate
        // factory: used by uvtunnel-gateway, the tests and the fuzz targets, never linked
        // into the uvtunnel a user runs. It reaches UVTunnel's internals through
        // `package` access, so UVTunnel's public API stays the client's.
        .target(
            name: "UVTunnelGateway",
            dependencies: [
                "UVTunnel",
                "CShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "UVTunnelCLI",
            dependencies: [
                "UVTunnel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // mimalloc as the client's allocator (Debian libmimalloc-dev): after
            // thousands of handshakes at once it hands the memory back, where
            // glibc keeps it scattered (perf/RESULTS.md, issue 13.1).
            linkerSettings: [.linkedLibrary("mimalloc")]
        ),
        .executableTarget(
            name: "UVTunnelGatewayCLI",
            dependencies: [
                "UVTunnel",
                "UVTunnelGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The client's unit tests use the gateway module for a server to talk to
        // (a GatewayServer on the same loop, self-signed certificates for TLS).
        // UVTunnelGatewayTests reads the gateway's answers with the client's
        // parsers: its Support/HTTPResponseTestSupport.swift is a symlink to
        // UVTunnelTests' own, one source compiled into both test modules; so is
        // Support/H2TestPeer.swift, the nghttp2 session under both test peers.
        .testTarget(name: "UVTunnelTests", dependencies: ["UVTunnel", "UVTunnelGateway", "CShims"]),
        .testTarget(name: "UVTunnelGatewayTests", dependencies: ["UVTunnelGateway", "UVTunnel", "CShims"]),
        .testTarget(name: "EndToEndTests", dependencies: ["UVTunnel"]),
    ]
)

// Fuzz targets (Tests/Fuzz, built and run by Tests/Fuzz/run), only with
// UVTUNNEL_FUZZ=1: they call into libFuzzer, so they link only when built with
// -sanitize=fuzzer, and the ordinary build and test must not see them.
let fuzzTargets = [
    "FuzzResponseHead", "FuzzConnectRequest", "FuzzSignInCallback", "FuzzRoute", "FuzzHTTPURL",
    "FuzzJWT", "FuzzTokenCache", "FuzzBodyDecoder", "FuzzQuery", "FuzzCapsule",
    "FuzzHTTP2Client",
]
if Context.environment["UVTUNNEL_FUZZ"] == "1" {
    package.targets.append(.systemLibrary(name: "CLibFuzzer", path: "Tests/Fuzz/CLibFuzzer"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["UVTunnel", "CLibFuzzer"],
                                   path: "Tests/Fuzz/Support"))
    for name in fuzzTargets {
        package.targets.append(.executableTarget(name: name, dependencies: ["UVTunnel", "UVTunnelGateway", "FuzzSupport"],
                                                 path: "Tests/Fuzz/Targets/\(name)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
