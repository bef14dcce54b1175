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
            ]
        ),
        .executableTarget(
            name: "UVTunnelCLI",
            dependencies: [
                "UVTunnel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "UVTunnelGatewayCLI",
            dependencies: [
                "UVTunnel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "UVTunnelTests", dependencies: ["UVTunnel", "CShims"]),
        .testTarget(name: "EndToEndTests", dependencies: ["UVTunnel"]),
    ]
)
