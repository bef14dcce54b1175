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
        let copy = Array(bytes)
        let fed = copy.withUnsafeBytes { raw in Result { () throws(CapsuleError) in try feed(raw, emit) } }
        try fed.get()
    }

    /// The data path's form: a datagram's value is copied with memcpy, not
    /// byte by byte (tens of KiB per datagram, at 100 Mbit/s and more).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Event) -> Void) throws(CapsuleError) {
        var index = 0
        while true {
            switch stage {
            case .failed(let error):
                throw error
            case .header:
                guard index < bytes.count else { return }
                header.append(bytes[index])
                index += 1
                try headerGrew(emit)
            case .datagram(let remaining):
                guard index < bytes.count || remaining == 0 else { return }
                let taken = min(remaining, bytes.count - index)
                if taken > 0, let from = bytes.baseAddress {
                    let at = value.count - remaining
                    value.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: from + index, byteCount: taken) }
                    index += taken
                }
                let left = remaining - taken
                stage = .datagram(remaining: left)
                if left == 0 { try datagramComplete(emit) }
            case .skipping(let type, let remaining):
                guard index < bytes.count || remaining == 0 else { return }
                let taken = min(remaining, bytes.count - index)
                index += taken
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
            // Its whole length at once, filled in place by memcpy as the bytes come.
            value = [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
            stage = .datagram(remaining: count)
        } else {
            stage = .skipping(type: type.value, remaining: count)
        }
    }

    private mutating func datagramComplete(_ emit: (Event) -> Void) throws(CapsuleError) {
        stage = .header
        guard let context = QUICVarint.read(value) else { return fail(.missingContext) }
        guard context.value == 0 else {
            value = []
            return emit(.droppedContext(context.value))
        }
        let size = value.count - context.length
        let payload = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            value.withUnsafeBytes { from in
                if size > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: from.baseAddress! + context.length, byteCount: size) }
            }
            initialized = size
        }
        value = []
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

    /// The same capsule, copied with memcpy (the data path: a datagram of
    /// tens of KiB copied byte by byte costs more than its TLS record).
    public static func datagram(_ payload: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(payload.count <= maxPayload, "a UDP payload fits one capsule")
        var header: [UInt8] = []
        QUICVarint.append(CapsuleDecoder.datagramType, to: &header)
        QUICVarint.append(UInt64(payload.count + 1), to: &header)
        header.append(0)  // context id 0
        return [UInt8](unsafeUninitializedCapacity: header.count + payload.count) { out, count in
            let raw = UnsafeMutableRawBufferPointer(out)
            header.withUnsafeBytes { raw.copyMemory(from: $0) }
            if let base = payload.baseAddress, let into = raw.baseAddress {
                (into + header.count).copyMemory(from: base, byteCount: payload.count)
            }
            count = header.count + payload.count
        }
    }
}
