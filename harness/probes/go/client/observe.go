package main

// Passive observation of the handshake, used only after crypto/tls has
// completed (and verified) it, to fill "group" and "sigalg" in the result:
// Go 1.19's tls.ConnectionState reports neither.
//
//   - TLS 1.2: ServerKeyExchange is in the clear (named curve + signature scheme).
//   - TLS 1.3: the group is in the ServerHello key_share; CertificateVerify is
//     encrypted, so it is decrypted with the server handshake traffic secret
//     that crypto/tls hands to Config.KeyLogWriter (kept in memory only).
//
// Anything unexpected yields null; this code never influences the handshake
// or its verification.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"math/bits"
	"net"
	"strings"
)

const maxRecorded = 1 << 20

// recordingConn keeps a copy of everything read from the peer (bounded).
type recordingConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.buf.Len() < maxRecorded {
		c.buf.Write(p[:n])
	}
	return n, err
}

const (
	recordChangeCipherSpec = 20
	recordHandshake        = 22
	recordApplicationData  = 23

	hsServerHello       = 2
	hsServerKeyExchange = 12
	hsCertificateVerify = 15
	hsFinished          = 20

	extKeyShare = 0x0033
)

var groupNames = map[uint16]string{
	0x0017: "secp256r1",
	0x0018: "secp384r1",
	0x0019: "secp521r1",
	0x001d: "X25519",
	0x001e: "X448",
	0x0100: "ffdhe2048",
	0x0101: "ffdhe3072",
	0x0102: "ffdhe4096",
	0x0103: "ffdhe6144",
	0x0104: "ffdhe8192",
	0x0200: "MLKEM512",
	0x0201: "MLKEM768",
	0x0202: "MLKEM1024",
	0x11eb: "SecP256r1MLKEM768",
	0x11ec: "X25519MLKEM768",
	0x11ed: "SecP384r1MLKEM1024",
	0x6399: "X25519Kyber768Draft00",
}

// helloRetryRequest is the ServerHello random that marks a HelloRetryRequest
// (RFC 8446, 4.1.3: SHA-256 of "HelloRetryRequest").
var helloRetryRequest = []byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

var sigalgNames = map[uint16]string{
	0x0201: "rsa_pkcs1_sha1",
	0x0203: "ecdsa_sha1",
	0x0401: "rsa_pkcs1_sha256",
	0x0501: "rsa_pkcs1_sha384",
	0x0601: "rsa_pkcs1_sha512",
	0x0403: "ecdsa_secp256r1_sha256",
	0x0503: "ecdsa_secp384r1_sha384",
	0x0603: "ecdsa_secp521r1_sha512",
	0x0804: "rsa_pss_rsae_sha256",
	0x0805: "rsa_pss_rsae_sha384",
	0x0806: "rsa_pss_rsae_sha512",
	0x0807: "ed25519",
	0x0808: "ed448",
	0x0809: "rsa_pss_pss_sha256",
	0x080a: "rsa_pss_pss_sha384",
	0x080b: "rsa_pss_pss_sha512",
}

func nameOf(m map[uint16]string, v uint16) *string {
	if s, ok := m[v]; ok {
		return &s
	}
	s := fmt.Sprintf("0x%04x", v)
	return &s
}

type record struct {
	typ     byte
	header  []byte
	payload []byte
}

func splitRecords(data []byte) []record {
	var recs []record
	for len(data) >= 5 {
		n := int(binary.BigEndian.Uint16(data[3:5]))
		if len(data) < 5+n {
			break
		}
		recs = append(recs, record{typ: data[0], header: data[:5], payload: data[5 : 5+n]})
		data = data[5+n:]
	}
	return recs
}

type hsMsg struct {
	typ  byte
	body []byte
}

// splitHandshake parses a handshake-message stream (messages may span records).
func splitHandshake(stream []byte) []hsMsg {
	var msgs []hsMsg
	for len(stream) >= 4 {
		n := int(stream[1])<<16 | int(stream[2])<<8 | int(stream[3])
		if len(stream) < 4+n {
			break
		}
		msgs = append(msgs, hsMsg{typ: stream[0], body: stream[4 : 4+n]})
		stream = stream[4+n:]
	}
	return msgs
}

func observeHandshake(data, keylog []byte, state tls.ConnectionState) (group, sigalg *string, hrr *bool) {
	defer func() {
		if recover() != nil { // malformed input must never break the probe
			group, sigalg, hrr = nil, nil, nil
		}
	}()
	recs := splitRecords(data)
	switch state.Version {
	case tls.VersionTLS12:
		no := false // TLS 1.2 has no HelloRetryRequest
		group, sigalg = observe12(recs)
		return group, sigalg, &no
	case tls.VersionTLS13:
		return observe13(recs, keylog, state.CipherSuite)
	}
	return nil, nil, nil
}

func observe12(recs []record) (group, sigalg *string) {
	var stream []byte
	for _, r := range recs {
		if r.typ == recordChangeCipherSpec {
			break // what follows is encrypted
		}
		if r.typ == recordHandshake {
			stream = append(stream, r.payload...)
		}
	}
	for _, m := range splitHandshake(stream) {
		if m.typ != hsServerKeyExchange {
			continue
		}
		b := m.body
		// ECParameters: curve_type named_curve(3), NamedCurve; then ECPoint<1..255>.
		if len(b) < 4 || b[0] != 3 {
			return nil, nil // not ECDHE with a named curve
		}
		group = nameOf(groupNames, binary.BigEndian.Uint16(b[1:3]))
		off := 4 + int(b[3])
		if len(b) >= off+2 {
			sigalg = nameOf(sigalgNames, binary.BigEndian.Uint16(b[off:off+2]))
		}
		return group, sigalg
	}
	return nil, nil // e.g. RSA key exchange: no group, no signature
}

func observe13(recs []record, keylog []byte, suite uint16) (group, sigalg *string, hrr *bool) {
	var plain []byte
	var encrypted []record
	for _, r := range recs {
		switch r.typ {
		case recordHandshake:
			if len(encrypted) == 0 {
				plain = append(plain, r.payload...)
			}
		case recordApplicationData:
			encrypted = append(encrypted, r)
		}
	}
	// The last ServerHello wins (the first may be a HelloRetryRequest).
	retried := false
	for _, m := range splitHandshake(plain) {
		if m.typ == hsServerHello {
			if len(m.body) >= 34 && bytes.Equal(m.body[2:34], helloRetryRequest) {
				retried = true
				continue
			}
			if g, ok := keyShareGroup(m.body); ok {
				group = nameOf(groupNames, g)
			}
		}
	}
	sigalg = decryptCertificateVerify(encrypted, keylog, suite)
	return group, sigalg, &retried
}

func keyShareGroup(sh []byte) (uint16, bool) {
	// legacy_version(2) random(32) session_id<0..32> cipher(2) compression(1) extensions<..>
	if len(sh) < 35 {
		return 0, false
	}
	off := 34
	off += 1 + int(sh[off])
	off += 3
	if len(sh) < off+2 {
		return 0, false
	}
	extLen := int(binary.BigEndian.Uint16(sh[off : off+2]))
	off += 2
	exts := sh[off:]
	if len(exts) > extLen {
		exts = exts[:extLen]
	}
	for len(exts) >= 4 {
		typ := binary.BigEndian.Uint16(exts[0:2])
		n := int(binary.BigEndian.Uint16(exts[2:4]))
		if len(exts) < 4+n {
			break
		}
		if typ == extKeyShare && n >= 2 {
			return binary.BigEndian.Uint16(exts[4:6]), true
		}
		exts = exts[4+n:]
	}
	return 0, false
}

func serverHandshakeSecret(keylog []byte) []byte {
	for _, line := range strings.Split(string(keylog), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "SERVER_HANDSHAKE_TRAFFIC_SECRET" {
			s, err := hex.DecodeString(f[2])
			if err == nil {
				return s
			}
		}
	}
	return nil
}

func decryptCertificateVerify(encrypted []record, keylog []byte, suite uint16) *string {
	secret := serverHandshakeSecret(keylog)
	if secret == nil || len(encrypted) == 0 {
		return nil
	}
	var newHash func() hash.Hash
	var keyLen int
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		newHash, keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		newHash, keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		newHash, keyLen = sha256.New, 32
	default:
		return nil
	}
	key := expandLabel(newHash, secret, "key", keyLen)
	iv := expandLabel(newHash, secret, "iv", 12)

	var open func(nonce, rec []byte, header []byte) []byte
	if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		open = func(nonce, ct, _ []byte) []byte {
			if len(ct) < 16 {
				return nil
			}
			// Decrypt only; the tag was already checked by crypto/tls.
			return chacha20XOR(key, nonce, 1, ct[:len(ct)-16])
		}
	} else {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil
		}
		open = func(nonce, ct, header []byte) []byte {
			pt, err := aead.Open(nil, nonce, ct, header)
			if err != nil {
				return nil
			}
			return pt
		}
	}

	var stream []byte
	for seq, r := range encrypted {
		nonce := make([]byte, 12)
		copy(nonce, iv)
		var s [8]byte
		binary.BigEndian.PutUint64(s[:], uint64(seq))
		for i := 0; i < 8; i++ {
			nonce[4+i] ^= s[i]
		}
		pt := open(nonce, r.payload, r.header)
		if pt == nil {
			return nil
		}
		// TLSInnerPlaintext: content || type || zeros
		i := len(pt) - 1
		for i >= 0 && pt[i] == 0 {
			i--
		}
		if i < 0 || pt[i] != recordHandshake {
			return nil
		}
		stream = append(stream, pt[:i]...)
		for _, m := range splitHandshake(stream) {
			if m.typ == hsCertificateVerify && len(m.body) >= 2 {
				return nameOf(sigalgNames, binary.BigEndian.Uint16(m.body[0:2]))
			}
			if m.typ == hsFinished {
				return nil
			}
		}
	}
	return nil
}

// expandLabel is HKDF-Expand-Label from RFC 8446, section 7.1, with an empty context.
func expandLabel(newHash func() hash.Hash, secret []byte, label string, length int) []byte {
	full := "tls13 " + label
	info := []byte{byte(length >> 8), byte(length), byte(len(full))}
	info = append(info, full...)
	info = append(info, 0) // empty context
	var out, prev []byte
	for ctr := byte(1); len(out) < length; ctr++ {
		m := hmac.New(newHash, secret)
		m.Write(prev)
		m.Write(info)
		m.Write([]byte{ctr})
		prev = m.Sum(nil)
		out = append(out, prev...)
	}
	return out[:length]
}

// chacha20XOR applies the RFC 8439 ChaCha20 keystream (32-byte key, 12-byte nonce).
func chacha20XOR(key, nonce []byte, counter uint32, in []byte) []byte {
	var st [16]uint32
	st[0], st[1], st[2], st[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	for i := 0; i < 8; i++ {
		st[4+i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	for i := 0; i < 3; i++ {
		st[13+i] = binary.LittleEndian.Uint32(nonce[4*i:])
	}
	out := make([]byte, len(in))
	var ks [64]byte
	for off := 0; off < len(in); off += 64 {
		st[12] = counter
		counter++
		x := st
		qr := func(a, b, c, d int) {
			x[a] += x[b]
			x[d] = bits.RotateLeft32(x[d]^x[a], 16)
			x[c] += x[d]
			x[b] = bits.RotateLeft32(x[b]^x[c], 12)
			x[a] += x[b]
			x[d] = bits.RotateLeft32(x[d]^x[a], 8)
			x[c] += x[d]
			x[b] = bits.RotateLeft32(x[b]^x[c], 7)
		}
		for r := 0; r < 10; r++ {
			qr(0, 4, 8, 12)
			qr(1, 5, 9, 13)
			qr(2, 6, 10, 14)
			qr(3, 7, 11, 15)
			qr(0, 5, 10, 15)
			qr(1, 6, 11, 12)
			qr(2, 7, 8, 13)
			qr(3, 4, 9, 14)
		}
		for i := 0; i < 16; i++ {
			binary.LittleEndian.PutUint32(ks[4*i:], x[i]+st[i])
		}
		for i := 0; i < 64 && off+i < len(in); i++ {
			out[off+i] = in[off+i] ^ ks[i]
		}
	}
	return out
}
