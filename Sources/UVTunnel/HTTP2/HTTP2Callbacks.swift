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
        H2DataCallbacks.install(on: callbacks)
        return H2DataCallbacks.makeSession(callbacks: callbacks, userData: userData) { nghttp2_session_client_new2($0, $1, $2, $3) }
    }

    /// Submits a request with these header fields (name, value, sensitive:
    /// never indexed by HPACK, for the token) and the DATA source; returns
    /// the stream id, or a negative nghttp2 error.
    static func submitRequest(_ raw: OpaquePointer, headers: [(String, String, Bool)]) -> Int32 {
        var provider = H2DataCallbacks.dataProvider
        return H2HeaderFields.with(headers) { fields in
            nghttp2_submit_request(raw, nil, fields, fields.count, &provider, nil)
        }
    }
}

/// The session behind nghttp2's user data (file scope: a C callback cannot capture).
private func h2Session(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session? {
    guard let userData else { return nil }
    return Unmanaged<HTTP2Session.CallbackContext>.fromOpaque(userData).takeUnretainedValue().session
}
