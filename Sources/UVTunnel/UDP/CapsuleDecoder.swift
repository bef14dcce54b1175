/// Reads the capsule stream of a connect-udp session (RFC 9297 §3.2, RFC 9298
/// §5), in whatever pieces the socket delivers: Type (varint), Length
/// (varint), Value. A DATAGRAM capsule (type 0) holds a Context ID (varint)
/// and one UDP payload; only context 0 is defined, so other contexts are
/// dropped, and capsules of other types are skipped unread, as the RFC asks.
///
/// Memory is bounded: a Length over `maxLength` (a UDP payload, 65,535, plus
/// room for a context id) ends the stream, so one capsule never holds more
/// than that; skipped capsules are never stored at all. Once it has failed,
/// the decoder stays failed.
public struct CapsuleDecoder {
    /// The largest Length accepted: 65,535 + 8.
    public static let maxLength = 65_535 + 8
    public static let datagramType: UInt64 = 0

    /// What one capsule amounted to.
    public enum Event: Equatable, Sendable {
        /// A context-0 DATAGRAM: one UDP payload.
        case datagram([UInt8])
        /// A DATAGRAM for another context: dropped.
        case droppedContext(UInt64)
        /// A capsule of a type uvtunnel does not use: skipped.
        case skipped(type: UInt64)
    }

    private enum Stage {
        /// Reading Type and Length; `header` holds their bytes so far.
        case header
        /// Collecting a DATAGRAM's value, `remaining` bytes to go.
        case datagram(remaining: Int)
        /// Passing over another capsule's value.
        case skipping(type: UInt64, remaining: Int)
        case failed(CapsuleError)
    }

    private var stage = Stage.header
    /// At most two 8-byte varints.
    private var header: [UInt8] = []
    private var value: [UInt8] = []

    public init() {}

    /// Consumes all of `bytes`; `emit` runs once per capsule completed in them.
    public mutating func feed<C: Collection<UInt8>>(_ bytes: C, _ emit: (Event) -> Void) throws(CapsuleError) {
        var rest = bytes[...]
        while true {
            switch stage {
            case .failed(let error):
                throw error
            case .header:
                guard let byte = rest.first else { return }
                rest = rest.dropFirst()
                header.append(byte)
                try headerGrew(emit)
            case .datagram(let remaining):
                guard !rest.isEmpty || remaining == 0 else { return }
                let piece = rest.prefix(remaining)
                value.append(contentsOf: piece)
                rest = rest.dropFirst(piece.count)
                let left = remaining - piece.count
                stage = .datagram(remaining: left)
                if left == 0 { try datagramComplete(emit) }
            case .skipping(let type, let remaining):
                guard !rest.isEmpty || remaining == 0 else { return }
                let taken = min(remaining, rest.count)
                rest = rest.dropFirst(taken)
                stage = .skipping(type: type, remaining: remaining - taken)
                if remaining == taken {
                    stage = .header
                    emit(.skipped(type: type))
                }
            }
        }
    }

    /// True between capsules: the stream may end here without losing one.
    public var isAtBoundary: Bool {
        if case .header = stage { return header.isEmpty }
        return false
    }

    private mutating func headerGrew(_ emit: (Event) -> Void) throws(CapsuleError) {
        guard let type = QUICVarint.read(header) else { return }
        guard let length = QUICVarint.read(header.dropFirst(type.length)) else { return }
        header.removeAll(keepingCapacity: true)
        guard length.value <= UInt64(Self.maxLength) else {
            return fail(.tooLong(length.value))
        }
        let count = Int(length.value)
        if type.value == Self.datagramType {
            guard count > 0 else { return fail(.missingContext) }
            value.removeAll(keepingCapacity: true)
            value.reserveCapacity(count)
            stage = .datagram(remaining: count)
        } else {
            stage = .skipping(type: type.value, remaining: count)
        }
    }

    private mutating func datagramComplete(_ emit: (Event) -> Void) throws(CapsuleError) {
        stage = .header
        guard let context = QUICVarint.read(value) else { return fail(.missingContext) }
        guard context.value == 0 else {
            value.removeAll(keepingCapacity: true)
            return emit(.droppedContext(context.value))
        }
        let payload = Array(value.dropFirst(context.length))
        value.removeAll(keepingCapacity: true)
        emit(.datagram(payload))
    }

    private mutating func fail(_ error: CapsuleError) {
        stage = .failed(error)
        value = []
        header = []
    }
}

/// Why a capsule stream cannot be read on: one line for the session's log.
public enum CapsuleError: Error, Equatable, Sendable {
    /// A Length over `CapsuleDecoder.maxLength`.
    case tooLong(UInt64)
    /// A DATAGRAM whose Context ID does not fit in its value.
    case missingContext

    public var message: String {
        switch self {
        case .tooLong(let length): return "capsule of \(length) bytes, over the \(CapsuleDecoder.maxLength)-byte limit"
        case .missingContext: return "DATAGRAM capsule without a whole context id"
        }
    }
}

/// Writes DATAGRAM capsules (context 0), the one kind uvtunnel sends.
public enum CapsuleEncoder {
    /// The largest payload one capsule carries (the context id takes 1 byte).
    public static let maxPayload = CapsuleDecoder.maxLength - 1

    public static func datagram<C: Collection<UInt8>>(_ payload: C) -> [UInt8] {
        precondition(payload.count <= maxPayload, "a UDP payload fits one capsule")
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 6)
        QUICVarint.append(CapsuleDecoder.datagramType, to: &out)
        QUICVarint.append(UInt64(payload.count + 1), to: &out)
        out.append(0)  // context id 0
        out.append(contentsOf: payload)
        return out
    }
}
