// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Kiln", targets: ["Kiln"]),
        .executable(name: "kiln", targets: ["KilnCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
    ],
    targets: [
        .target(name: "KilnIR"),
        .target(name: "KilnOpset", dependencies: ["KilnIR"], exclude: ["Generated/SchemaTable.swift.stamp"]),
        .target(
            name: "KilnONNX",
            dependencies: ["KilnIR", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Proto", "Generated/onnx.pb.swift.stamp"]
        ),
        .target(name: "KilnAnalysis", dependencies: ["KilnIR", "KilnOpset"]),
        .target(name: "KilnReport", dependencies: ["KilnIR", "KilnEvaluator"]),
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "KilnEvaluator", dependencies: ["KilnIR", "KilnONNX", "CBLAS"]),
        .target(name: "KilnPasses", dependencies: ["KilnIR", "KilnONNX", "KilnOpset", "KilnAnalysis", "KilnEvaluator"]),
        .target(
            name: "KilnQuantization",
            dependencies: ["KilnIR", "KilnONNX", "KilnOpset", "KilnAnalysis", "KilnEvaluator", "KilnPasses", "CZlib"]
        ),
        .target(
            name: "Kiln",
            dependencies: ["KilnIR", "KilnONNX", "KilnOpset", "KilnAnalysis", "KilnReport", "KilnEvaluator", "KilnPasses",
                           "KilnQuantization"]
        ),
        .executableTarget(
            name: "KilnCLI",
            dependencies: ["Kiln", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "KilnTestSupport", dependencies: ["KilnIR", "KilnEvaluator"]),
        .testTarget(name: "KilnIRTests", dependencies: ["KilnIR"]),
        .testTarget(name: "KilnOpsetTests", dependencies: ["KilnOpset", "KilnIR"]),
        .testTarget(name: "KilnONNXTests", dependencies: ["KilnONNX", "KilnIR"]),
        .testTarget(name: "KilnAnalysisTests", dependencies: ["KilnAnalysis", "KilnOpset", "KilnONNX", "KilnIR"]),
        .testTarget(name: "KilnReportTests", dependencies: ["KilnReport", "KilnEvaluator", "KilnONNX", "KilnIR"]),
        .testTarget(name: "KilnEvaluatorTests", dependencies: ["KilnEvaluator", "KilnONNX", "KilnIR"]),
        .testTarget(name: "KilnPassesTests", dependencies: ["KilnTestSupport", "KilnPasses", "KilnEvaluator", "KilnONNX", "KilnIR"]),
        .testTarget(
            name: "KilnQuantizationTests",
            dependencies: ["KilnTestSupport", "KilnQuantization", "KilnPasses", "KilnAnalysis", "KilnEvaluator", "KilnONNX", "KilnIR"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
