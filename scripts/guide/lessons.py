"""The prose of the programs that have a section of their own (no traced
steps): what the program adds to the one it grew from, as the guide says it
before the diff. One entry per program; a program without one gets the diff
alone. The section of a pair's server holds the pair's lesson.
"""

LESSONS = {
    "server_tls": [
        "The pair is `server` and `client` with TLS between them, over OpenSSL's libssl (the Rust twins "
        "call the same functions through `openssl-sys`, `tls/src/ssl.rs`); the framing, the echo, the "
        "escaping, the log lines, the idle timeout and `quit` are unchanged. What TLS adds:",
        "",
        "1. **A context**, `SSL_CTX_new(TLS_server_method())` (`TLS_client_method()` in the client), made "
        "once, before `socket`: what every session shares. `SSL_CTX_set_min_proto_version(ctx, "
        "TLS1_2_VERSION)`: nothing older than TLS 1.2, whose predecessors have known weaknesses; the "
        "server sends no session tickets (`SSL_CTX_set_num_tickets(ctx, 0)`): these clients never "
        "resume a session.",
        "2. **A certificate and its key** (the server): `SSL_CTX_use_certificate_chain_file` and "
        "`SSL_CTX_use_PrivateKey_file`. The certificate binds a public key to names (`localhost`, "
        "`127.0.0.1`, `::1`) under a CA's signature; the private key never leaves the server, and using "
        "it in the handshake is the server's proof of identity. `make tls` makes a demonstration CA, "
        "signs the server's certificate, and deletes the CA's key.",
        "3. **The handshake**, right after `accept` (`connect`): `SSL_new`, `SSL_set_fd(ssl, fd)`, then "
        "`SSL_accept` (`SSL_connect`). ClientHello (the client's key share, the versions and ciphers it "
        "takes), ServerHello (the server's key share), then, already encrypted, the certificate, a "
        "signature over the handshake made with the private key, and Finished; then the client's "
        "Finished. In the server the handshake runs in the client's thread, bounded by the same "
        "SO_RCVTIMEO as the echo loop, so a stalled client blocks no one; a failure is one log line, "
        "`[PEER] error: TLS handshake: REASON` (`wrong version number` for a plaintext client, "
        "`unsupported protocol` for TLS 1.1).",
        "4. **SSL_read and SSL_write in place of recv and send.** Each `SSL_write` is a record: the bytes "
        "and one hidden type byte, encrypted and authenticated with a 16-byte tag (a changed byte makes "
        "`SSL_read` fail: `decryption failed or bad record mac`). libssl reads and writes the socket "
        "itself with read(2) and write(2), a 5-byte record header, then the body. `SSL_get_error` says "
        "what a failure was: `SSL_ERROR_ZERO_RETURN` is the end of the stream, `SSL_ERROR_WANT_READ` on "
        "a blocking socket is SO_RCVTIMEO's timeout (the idle timeout). write(2) has no MSG_NOSIGNAL, so "
        "both programs ignore SIGPIPE.",
        "5. **close_notify**: `SSL_shutdown` sends an encrypted alert that says \"the stream ends here, "
        "whole\", before the FIN. After `quit` the server sends it, then does `server`'s lingering close; "
        "a stream that ends without it may have been cut by someone on the path.",
        "",
        "**What the client checks, and why each check matters.** `SSL_CTX_load_verify_locations` and "
        "`SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL)`: the server's chain must lead to a CA the client "
        "trusts; without it anyone on the path can present a certificate of their own and read "
        "everything (encryption without authentication stops only a passive eavesdropper). The name: "
        "`X509_VERIFY_PARAM_set1_ip_asc` for an IP address, else `X509_VERIFY_PARAM_set1_host` and SNI "
        "(`SSL_set_tlsext_host_name`): a valid certificate for another site proves nothing about this "
        "one. The validity dates (libssl checks them): an expired key may have leaked long ago. Any "
        "failure ends the client with `client_tls: TLS handshake with ADDR:PORT: REASON`, exit 1, before "
        "a byte of the session is sent: it never falls back to plaintext, since a fallback is exactly "
        "what an attacker would force. With SSLKEYLOGFILE set, `SSL_CTX_set_keylog_callback` appends "
        "the session's secrets in the NSS format, so that Wireshark can decrypt a capture "
        "(`docs/tls.svg` is the session on the wire); whoever has that file can read the session.",
    ],
    "server_udp": [
        "**The datagram socket.** `socket(AF_INET, SOCK_DGRAM, 0)`: UDP carries messages, not a byte "
        "stream. Each `sendto` is one datagram, each `recvfrom` returns one whole datagram, so there is "
        "no framing: a line is a datagram, the buffer is 65,536 bytes (more than the 65,507 bytes IPv4 "
        "can carry, 65,527 over IPv6), and nothing arrives in pieces.",
        "",
        "**No listen, no accept.** There is no connection to wait for, so no queue of connections and no "
        "socket per client: `bind` alone makes the socket ready, and one socket serves every client. Gone "
        "with the connection are `quit`, the idle timeout, `connected` and `disconnected`, the lingering "
        "close, and SO_REUSEADDR (no TIME_WAIT; on a UDP socket it would let a second server share the "
        "port). The diff below shows them go.",
        "",
        "**recvfrom's address.** Without a connection the socket does not know who is talking, so each "
        "datagram brings its sender's address: `recvfrom` fills a `sockaddr_storage`, and `sendto` "
        "answers that very address (Stevens' `dg_echo`). The clients' datagrams interleave on the one "
        "socket, and each echo goes back to whoever sent it.",
        "",
        "**Why the connected UDP socket hears ICMP errors.** `connect` on a datagram socket sends "
        "nothing: it records the peer, so `send` needs no address and the kernel keeps only that peer's "
        "datagrams. When nothing listens on the port, the server's kernel answers with ICMP port "
        "unreachable; the kernel can match that error to a connected socket and reports it as "
        "ECONNREFUSED on the next `recv` (`client_udp: recv: Connection refused`). An unconnected socket "
        "is not told, and would wait for its timeout (Stevens, UNP 8.9-8.11).",
        "",
        "**What is lost, and who notices.** Nothing numbers datagrams, acknowledges them or sends them "
        "again. A request lost on the way, an echo lost on the way back and an echo that is only slow "
        "look the same to the client: silence until `-t` runs out (`no reply within 1 s`); a slow echo "
        "may then arrive during the next line's wait (`late:`). The server never learns that anything "
        "was lost. `make demo-udp` shows it over a link that drops datagrams at random, then TCP over "
        "the same link, every line delivered (`docs/udp.svg`).",
    ],
}
