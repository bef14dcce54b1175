import CShims

/// nghttp2's C callbacks, each a thin trampoline from the session's user data
/// (an `HTTP2Session.CallbackContext`) to `HTTP2Session`/`HTTP2Stream`. They
/// run only inside `nghttp2_session_mem_recv`/`mem_send`, called by the
/// session itself; the pointers they get do not outlive the call.
enum HTTP2Callbacks {

    /// A client session with manual window updates; nil when out of memory.
    static func makeClientSession(userData: UnsafeMutableRawPointer) -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let session = h2Session(userData) else { return 0 }
            let header = frame.pointee.hd
            guard header.type == UInt8(NGHTTP2_HEADERS.rawValue),
                  let stream = session.stream(header.stream_id) else { return 0 }
            // A header list past the limit resets the stream (nghttp2 sends
            // RST_STREAM for a temporal failure), with our reason kept.
            guard stream.countHeader(bytes: nameLength + valueLength) else {
                return Int32(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            guard nameLength == 7, let name, String(decoding: UnsafeBufferPointer(start: name, count: 7), as: UTF8.self) == ":status",
                  let value else { return 0 }
            stream.statusHeader(String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame, let session = h2Session(userData) else { return 0 }
            let header = frame.pointee.hd
            let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            switch UInt32(header.type) {
            case NGHTTP2_HEADERS.rawValue:
                guard let stream = session.stream(header.stream_id) else { return 0 }
                if frame.pointee.headers.cat == NGHTTP2_HCAT_RESPONSE { stream.responseHeadersEnded() }
                if endStream { stream.remoteEnded() }
            case NGHTTP2_DATA.rawValue:
                if endStream { session.stream(header.stream_id)?.remoteEnded() }
            case NGHTTP2_GOAWAY.rawValue:
                session.goAwayArrived(code: frame.pointee.goaway.error_code)
            case NGHTTP2_SETTINGS.rawValue:
                if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { session.remoteSettingsArrived() }
            default:
                break
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            guard let session = h2Session(userData) else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            session.dataArrived(UnsafeRawBufferPointer(start: data, count: length), on: streamID)
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame, let session = h2Session(userData) else { return 0 }
            let header = frame.pointee.hd
            if header.type == UInt8(NGHTTP2_DATA.rawValue), header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                session.stream(header.stream_id)?.localEndSent()
            } else if header.type == UInt8(NGHTTP2_GOAWAY.rawValue) {
                session.goAwaySent(code: frame.pointee.goaway.error_code)
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, code, userData in
            h2Session(userData)?.streamClosed(streamID, code: code)
            return 0
        }
        // DATA without copies: the frame's length follows the stream's queued
        // buffers, and its payload joins the transport write as those buffers.
        nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks) { _, _, streamID, _, _, _, userData in
            guard let session = h2Session(userData), let stream = session.stream(streamID) else { return 1 }
            return stream.preferredFrameLength(limit: session.frameLengthLimit)
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, header, length, _, userData in
            guard let frame, let header, let session = h2Session(userData) else {
                return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
            // No padding is ever asked for (no select_padding callback).
            guard frame.pointee.data.padlen == 0 else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            return session.sendData(streamID: frame.pointee.hd.stream_id,
                                    header: UnsafeRawBufferPointer(start: header, count: 9), length: length)
        }
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        // Windows open only when a stream's reader has taken the bytes.
        nghttp2_option_set_no_auto_window_update(option, 1)
        var raw: OpaquePointer?
        guard nghttp2_session_client_new2(&raw, callbacks, userData, option) == 0 else { return nil }
        return raw
    }

    /// The DATA source of every stream: says how many queued bytes the frame
    /// carries (NO_COPY: `sendData` moves them, nghttp2 never copies them),
    /// defers when nothing is queued, ends the stream after the local EOF.
    private static let readData: nghttp2_data_source_read_callback = { _, streamID, _, length, flags, _, userData in
        guard let session = h2Session(userData), let stream = session.stream(streamID), let flags else {
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

    /// Submits a request with these header fields (name, value, sensitive:
    /// never indexed by HPACK, for the token) and the DATA source; returns
    /// the stream id, or a negative nghttp2 error.
    static func submitRequest(_ raw: OpaquePointer, headers: [(String, String, Bool)]) -> Int32 {
        var storage: [UInt8] = []
        var spans: [(name: Range<Int>, value: Range<Int>)] = []
        for (name, value, _) in headers {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((nameStart..<valueStart, valueStart..<storage.count))
        }
        var provider = nghttp2_data_provider()
        provider.read_callback = readData
        // nghttp2 copies the header fields before it returns.
        return storage.withUnsafeMutableBufferPointer { bytes in
            let base = bytes.baseAddress!
            let fields = zip(headers, spans).map { header, span in
                nghttp2_nv(name: base + span.name.lowerBound, value: base + span.value.lowerBound,
                           namelen: span.name.count, valuelen: span.value.count,
                           flags: UInt8((header.2 ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE).rawValue))
            }
            return nghttp2_submit_request(raw, nil, fields, fields.count, &provider, nil)
        }
    }
}

/// The session behind nghttp2's user data (file scope: a C callback cannot capture).
private func h2Session(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session? {
    guard let userData else { return nil }
    return Unmanaged<HTTP2Session.CallbackContext>.fromOpaque(userData).takeUnretainedValue().session
}
