// swift-tools-version:6.1
//
// DuoGuard Worker: a Kafka moderation worker running the DuoGuard-1B classifier on CPU.
// Swift 6 language mode (tools version 6.x) means complete strict concurrency checking;
// 6.1 is the first with package traits (the OTLP exporter is one).
import PackageDescription

let package = Package(
    name: "duoguard-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "duoguard", targets: ["duoguard"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "ModelFormats", targets: ["ModelFormats"]),
        .library(name: "Inference", targets: ["Inference"]),
    ],
    traits: [
        // Not a default trait: swift-otel's OTLP/HTTP exporter brings async-http-client,
        // swift-nio-ssl (BoringSSL), swift-nio-http2 and more, which nearly triple a clean
        // build of `duoguard` (docs/operations.md, Tracing). `swift build --traits OTLP`;
        // the container image has it.
        .trait(
            name: "OTLP",
            description: "OTLP/HTTP span exporter for `--otlp-endpoint` (swift-otel)"
        ),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.1.0"),
        // The gRPC Moderation service (issue 22): runtime, HTTP/2 transport, protobuf coding.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        // Only the OTLP/HTTP exporter (its gRPC one would add grpc-swift); used by the OTLP trait
        // only, but resolved by every build (its manifest needs a Swift 6.2 toolchain).
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // librdkafka from the system (Debian: librdkafka-dev), never vendored.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        // The one Kafka record header type, shared by the client and the envelope layer.
        .target(name: "KafkaHeaders"),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                "KafkaHeaders",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // No flags: every SIMD function carries its own target attribute (run-time dispatch),
        // and the sources say `#pragma STDC FP_CONTRACT OFF`, so the library products need no
        // `unsafeFlags` and can be used as a dependency. Release builds are -O2, 13-20% faster than -O3
        // here (docs/kernels.md); the debug test build passes `-Xcc -O2` itself (scripts/test.sh): at -O0 the
        // kernels would make the parity tests crawl.
        .target(name: "CKernels"),
        // The one JSON grammar (a pull reader, no Foundation): the tokenizer loader and the
        // envelope layer (structured CloudEvents) both read through it.
        .target(name: "JSONScanning"),
        .target(name: "Tokenizer", dependencies: ["JSONScanning"]),
        // Wire schema: generated code (scripts/generate-proto.sh, committed) + codec.
        .target(name: "ModerationProto", dependencies: ["JSONScanning", "KafkaHeaders", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Model files apart from the runtime: GGUF (read, write), safetensors and Hugging Face
        // directories, the converter, the hyperparameters a file describes (`ModelConfig`).
        .target(
            name: "ModelFormats",
            dependencies: [
                // Block formats and (de)quantization: a file's tensors are ggml blocks.
                "CKernels",
                // config.json, safetensors headers, tokenizer.json for llama.cpp's keys.
                "JSONScanning",
                // SHA-256 of the model's tensor data (duoguard.content_hash).
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The runtime: weights checked and packed from a ModelFormats file, the forward pass,
        // text scoring. Re-exports ModelFormats (its API takes and returns those types).
        .target(
            name: "Inference",
            dependencies: [
                "CKernels",
                "Tokenizer",
                "ModelFormats",
                // The score cache's digest (ScoreDigest).
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The hardened HTTP/1.1 server (NIO): metrics/health routes and the synchronous API attach to it.
        .target(
            name: "HTTPServer",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The Kafka moderation worker: pipeline, batching, offsets, metrics, health, synchronous API.
        .target(
            name: "Worker",
            dependencies: [
                "Kafka",
                "HTTPServer",
                "Tokenizer",
                "Inference",
                "ModerationProto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The gRPC front door: the Moderation service over grpc-swift 2, answered by ModerationFrontDoor.
        .target(
            name: "GRPCFront",
            dependencies: [
                "Worker",
                "ModerationProto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "duoguard",
            dependencies: [
                "Kafka",
                "GRPCFront",
                "Tokenizer",
                "Inference",
                "Worker",
                "JSONScanning",
                "ModerationProto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // The OTLP exporter (OTLPExporter.swift, compiled under `#if OTLP`).
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLP"])),
            ]
        ),
        // Benchmarks (not tests): bench/kafka/run.sh compares this with kcat on the same broker.
        .executableTarget(
            name: "kafka-bench",
            dependencies: ["Kafka", .product(name: "Logging", package: "swift-log")],
            path: "bench/KafkaBench"
        ),
        // Test helpers shared by the test targets (bounded child-process waits); not a product.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "CRdKafka", "TestSupport"]),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "HTTPServer", "Kafka", "Inference", "Tokenizer", "ModerationProto", "TestSupport",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]),
        // The worker core (request ledger, group events, delivery decisions) under a seeded,
        // deterministic simulator, and the real async shell (intake, batcher, inference loop,
        // sender, rebalance handler, stop path) on a seeded executor with the real tokenizer
        // (docs/architecture.md; DUOGUARD_SIM_SCHEDULES and DUOGUARD_SHELL_SCHEDULES for long runs).
        // Optimised (the simulator's own code only): about 4x the steps per second (58k -> 217k, loaded machine).
        .testTarget(
            name: "WorkerSimulationTests", dependencies: ["Worker", "Kafka", "Inference", "Tokenizer", "ModerationProto"],
            swiftSettings: [.unsafeFlags(["-O"])]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "ModelFormats", "CKernels", "Tokenizer", "TestSupport"]),
        .testTarget(name: "ModerationProtoTests", dependencies: ["ModerationProto", "KafkaHeaders", "TestSupport"]),
        .testTarget(name: "JSONScanningTests", dependencies: ["JSONScanning"]),
        // Mutation fuzzing of every decoder of outside bytes, time-capped (scripts/fuzz.sh for long runs).
        .testTarget(name: "FuzzTests", dependencies: ["Inference", "ModelFormats", "Tokenizer", "ModerationProto", "Kafka", "KafkaHeaders", "TestSupport"]),
        // docs/architecture.md's module map against the sources' import lines (it reads files).
        .testTarget(name: "ArchitectureTests", dependencies: ["TestSupport"]),
        // Static checks of deploy/ (Dockerfile, compose, Kubernetes) against the built `duoguard` binary.
        .testTarget(name: "DeployTests", dependencies: ["TestSupport"]),
    ]
)
