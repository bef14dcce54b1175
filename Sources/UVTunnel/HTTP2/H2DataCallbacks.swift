import CShims

/// What the DATA callbacks shared by the client's and the gateway's nghttp2
/// sessions need of a session: its streams' outbound queues, the frame
/// length, the no-copy send and the stream's end.
package protocol H2DataSession: AnyObject {
    associatedtype DataStream: H2DataStream
    /// The most bytes one DATA frame carries.
    var frameLengthLimit: Int { get }
    func stream(_ id: Int32) -> DataStream?
    /// A DATA frame nghttp2 framed without copying: its 9-byte header, then
    /// `length` bytes the stream moves from its queue; 0, PAUSE or an error.
    func sendData(streamID: Int32, header: UnsafeRawBufferPointer, length: Int) -> Int32
    /// nghttp2 forgot the stream (`code` 0: both sides ended).
    func streamClosed(_ id: Int32, code: UInt32)
}

/// A stream whose bytes go out as DATA frames from an `H2OutboundQueue`.
package protocol H2DataStream: AnyObject {
    func preferredFrameLength(limit: Int) -> Int
    func produce(upTo limit: Int) -> H2OutboundQueue.Produced
}

/// nghttp2's user data for either side: retained until the nghttp2 session
/// is freed, pointing weakly at its owner. Each side subclasses it with a
/// reference typed as its own session (its own callbacks use that, with no
/// cast per frame); the shared callbacks use `dataSession`.
open class H2CallbackContext {
    package weak var dataSession: (any H2DataSession)?

    public init() {}
}

/// The callbacks and option both sides' sessions share: DATA without copies
/// by nghttp2 (the frame's length follows the stream's queued buffers, and
/// its payload joins the transport write as those buffers, or copied behind
/// its header when short: `H2OutboundQueue.take`), the stream's close, and
/// windows that open only when a stream's reader has taken the bytes. They
/// run only inside `nghttp2_session_mem_recv`/`mem_send`; the pointers they
/// get do not outlive the call.
package enum H2DataCallbacks {
    /// Sets the shared callbacks on `callbacks`.
    package static func install(on callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, code, userData in
            dataSession(userData)?.streamClosed(streamID, code: code)
            return 0
        }
        nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks) { _, _, streamID, _, _, _, userData in
            guard let session = dataSession(userData), let stream = session.stream(streamID) else { return 1 }
            return stream.preferredFrameLength(limit: session.frameLengthLimit)
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, userData in
            guard let frame, let header, let session = dataSession(userData) else {
                return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
            // No padding is ever asked for (no select_padding callback).
            guard frame.pointee.data.padlen == 0 else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            return session.sendData(streamID: frame.pointee.hd.stream_id,
                                    header: UnsafeRawBufferPointer(start: header, count: 9), length: length)
        }
    }

    /// Makes a session with the shared option (manual window updates) from
    /// `callbacks` via `new2` (`nghttp2_session_client_new2` or `_server_new2`);
    /// nil when out of memory.
    package static func makeSession(
        callbacks: OpaquePointer, userData: UnsafeMutableRawPointer,
        new2: (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer, UnsafeMutableRawPointer, OpaquePointer) -> Int32
    ) -> OpaquePointer? {
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        // Windows open only when a stream's reader has taken the bytes.
        nghttp2_option_set_no_auto_window_update(option, 1)
        var raw: OpaquePointer?
        guard new2(&raw, callbacks, userData, option) == 0 else { return nil }
        return raw
    }

    /// A DATA provider whose source is the stream's `H2OutboundQueue`: says
    /// how many queued bytes the frame carries (NO_COPY: `sendData` moves
    /// them, nghttp2 never copies them), defers when nothing is queued, ends
    /// the stream once its source ended and the queue is empty.
    package static var dataProvider: nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.read_callback = readData
        return provider
    }

    private static let readData: nghttp2_data_source_read_callback = { _, streamID, _, length, flags, _, userData in
        guard let session = dataSession(userData), let stream = session.stream(streamID), let flags else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        switch stream.produce(upTo: length) {
        case .bytes(let n):
            flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
            return n
        case .end(let n):
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if n > 0 { flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue }
            return n
        case .nothingYet:
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
    }
}

/// The session behind nghttp2's user data (file scope: a C callback cannot capture).
private func dataSession(_ userData: UnsafeMutableRawPointer?) -> (any H2DataSession)? {
    guard let userData else { return nil }
    return Unmanaged<H2CallbackContext>.fromOpaque(userData).takeUnretainedValue().dataSession
}
