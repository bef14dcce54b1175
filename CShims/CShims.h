// The C surface uvtunnel imports: libuv, OpenSSL and nghttp2, plus tiny wrappers for
// what Swift cannot import directly (function-like macros, variadic calls,
// handle-type casts). No logic lives here.
#ifndef CSHIMS_H
#define CSHIMS_H

#include <uv.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/hmac.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <malloc.h>
#include <fcntl.h>
#include <sys/prctl.h>

// --- libuv: handle casts (Swift sees each handle struct as an unrelated type) ---
static inline uv_handle_t *cshim_as_handle(void *h) { return (uv_handle_t *)h; }
static inline uv_stream_t *cshim_as_stream(void *h) { return (uv_stream_t *)h; }
static inline uv_tcp_t *cshim_as_tcp(void *h) { return (uv_tcp_t *)h; }
static inline uv_pipe_t *cshim_as_pipe(void *h) { return (uv_pipe_t *)h; }
static inline uv_tty_t *cshim_as_tty(void *h) { return (uv_tty_t *)h; }
static inline uv_timer_t *cshim_as_timer(void *h) { return (uv_timer_t *)h; }
static inline uv_signal_t *cshim_as_signal(void *h) { return (uv_signal_t *)h; }
static inline uv_async_t *cshim_as_async(void *h) { return (uv_async_t *)h; }
static inline uv_poll_t *cshim_as_poll(void *h) { return (uv_poll_t *)h; }
static inline struct sockaddr *cshim_as_sockaddr(void *s) { return (struct sockaddr *)s; }

// --- OpenSSL: function-like macros ---
static inline long cshim_SSL_set_tlsext_host_name(SSL *s, const char *name) {
    return SSL_set_tlsext_host_name(s, name);
}
static inline long cshim_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long cshim_SSL_set_mode(SSL *s, long mode) { return SSL_set_mode(s, mode); }
static inline long cshim_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) {
    return SSL_CTX_set_min_proto_version(ctx, v);
}
static inline long cshim_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long m) {
    return SSL_CTX_set_session_cache_mode(ctx, m);
}
static inline long cshim_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return SSL_CTX_add1_chain_cert(ctx, x); }
// A custom BIO sets and clears its retry flags itself; these are macros.
static inline void cshim_BIO_set_retry_read(BIO *b) { BIO_set_retry_read(b); }
static inline void cshim_BIO_clear_retry_flags(BIO *b) { BIO_clear_retry_flags(b); }
static inline void cshim_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline int cshim_SSL_CTX_set_app_data(SSL_CTX *ctx, void *arg) { return SSL_CTX_set_app_data(ctx, arg); }
static inline void *cshim_SSL_CTX_get_app_data(const SSL_CTX *ctx) { return SSL_CTX_get_app_data(ctx); }
static inline long cshim_SSL_SESS_CACHE_CLIENT_ONLY(void) { return SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE; }
static inline X509_NAME *cshim_X509_get_subject_name(X509 *x) { return X509_get_subject_name(x); }

// EVP_EC_gen is a macro over a variadic function: make a P-256 key.
static inline EVP_PKEY *cshim_generate_p256_key(void) { return EVP_EC_gen("P-256"); }

// Flag values Swift imports as macros of the wrong width or not at all.
static inline long cshim_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline long cshim_SSL_MODE_ENABLE_PARTIAL_WRITE(void) { return SSL_MODE_ENABLE_PARTIAL_WRITE; }
static inline long cshim_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }

/* prctl is variadic, which Swift cannot call: a --workers worker asks for
   SIGTERM when its parent dies, so no worker outlives a killed parent. */
static inline int cshim_set_parent_death_signal(int signum) { return prctl(PR_SET_PDEATHSIG, (unsigned long)signum); }

#endif
