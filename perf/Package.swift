// swift-tools-version:6.0
import PackageDescription

// The load generator for perf/run: its clients and its target servers run on
// uvtunnel's own libuv engine, so the generator costs little next to the
// tunnels it measures.
let package = Package(
    name: "uvtunnel-perf",
    dependencies: [
        // Named, so the product resolves whatever the clone's folder is called.
        .package(name: "uvtunnel", path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .executableTarget(
            name: "uvperf",
            dependencies: [
                .product(name: "UVTunnel", package: "uvtunnel"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
