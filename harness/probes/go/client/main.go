// Command tlsmatrix-go-client is the tlsmatrix client probe for Go's crypto/tls.
//
// It speaks the JSON-lines protocol described in docs/probe-contract.md
// ("Client probes"): one hello line on start, then one result line per job
// read from stdin, exiting 0 on EOF. Standard library only.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tlsmatrix/probes/go/buildinfo"
	"tlsmatrix/probes/go/kx"
)

const stackName = "go crypto/tls"

type hello struct {
	Stack    string            `json:"stack"`
	Version  string            `json:"version"`
	Provider *string           `json:"provider"`
	Details  map[string]string `json:"details,omitempty"`
}

type job struct {
	ID         json.RawMessage `json:"id"`
	Host       string          `json:"host"`
	Port       int             `json:"port"`
	ServerName string          `json:"servername"`
	CAFile     string          `json:"ca_file"`
	TLSVersion *string         `json:"tls_version"`
	TimeoutMS  *float64        `json:"timeout_ms"`
	// mTLS: the client certificate and its key (both or neither).
	// the key-exchange groups to offer, in preference order (their code points are
	// Go's CurveIDs); none: Go's own list
	GroupCodes []uint16 `json:"group_codes"`
	ClientCertFile *string `json:"client_cert_file"`
	ClientKeyFile  *string `json:"client_key_file"`
}

type negotiated struct {
	Version string  `json:"version"`
	Cipher  string  `json:"cipher"`
	Group   *string `json:"group"`
	Sigalg  *string `json:"sigalg"`
	HRR     *bool   `json:"hrr"`
}

type result struct {
	ID          json.RawMessage `json:"id"`
	OK          bool            `json:"ok"`
	Error       *string         `json:"error"`
	ErrorDetail *string         `json:"error_detail,omitempty"`
	Negotiated  *negotiated     `json:"negotiated"`
	ElapsedMS   float64         `json:"elapsed_ms"`
}

const defaultTimeout = 10 * time.Second

// acceptWait: how long to wait after the handshake for a server's rejection of
// our client certificate (mTLS only).
const acceptWait = 2 * time.Second

var out = bufio.NewWriter(os.Stdout)

func emit(v interface{}) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends '\n'
		fmt.Fprintf(os.Stderr, "tlsmatrix-go-client: cannot encode output: %v\n", err)
		os.Exit(1)
	}
	if _, err := out.Write(buf.Bytes()); err != nil {
		os.Exit(1)
	}
	if err := out.Flush(); err != nil {
		os.Exit(1)
	}
}

func strp(s string) *string { return &s }

func main() {
	emit(map[string]hello{"hello": {Stack: stackName, Version: runtime.Version(), Provider: nil, Details: buildinfo.Details()}})

	in := bufio.NewReaderSize(os.Stdin, 64*1024)
	for {
		line, err := in.ReadString('\n')
		if len(strings.TrimSpace(line)) > 0 {
			emit(handleLine(line))
		}
		if err != nil {
			if err == io.EOF {
				os.Exit(0)
			}
			fmt.Fprintf(os.Stderr, "tlsmatrix-go-client: reading stdin: %v\n", err)
			os.Exit(1)
		}
	}
}

func probeError(id json.RawMessage, msg string) result {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return result{ID: id, OK: false, Error: strp("probe: " + msg), Negotiated: nil, ElapsedMS: 0}
}

func handleLine(line string) result {
	var j job
	dec := json.NewDecoder(strings.NewReader(line))
	if err := dec.Decode(&j); err != nil {
		// Try to salvage the id so the harness can match the answer.
		var partial struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal([]byte(line), &partial)
		return probeError(partial.ID, "invalid job JSON: "+err.Error())
	}
	if len(j.ID) == 0 {
		j.ID = json.RawMessage("null")
	}
	return runJob(j)
}

// loadRoots builds a pool holding only the certificates of caFile.
func loadRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, errors.New("job has no ca_file")
	}
	data, err := ioutil.ReadFile(caFile) // ioutil: Go 1.15 (Debian bullseye) has no os.ReadFile
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file: %v", err)
	}
	pool := x509.NewCertPool()
	n := 0
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cannot parse certificate #%d in CA file %s: %v", n+1, caFile, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no certificates found in CA file %s", caFile)
	}
	return pool, nil
}

// Trust pools and client key pairs are parsed once per file version (path, size, mtime, inode)
// instead of per job. Neither holds session state: crypto/tls resumes only through
// Config.ClientSessionCache, which this probe never sets (each job gets a fresh tls.Config), so
// no job can resume an earlier one's session (tests/integration/test_session_reuse.py checks).
// Failures are not cached: a job with a broken file is answered in the stack's words each time.
var (
	rootsCache = map[string]*x509.CertPool{}
	pairsCache = map[string]tls.Certificate{}
)

func fileStamp(paths ...string) (string, bool) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", false
		}
		ino := uint64(0)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(&b, "%s|%d|%d|%d\n", p, fi.Size(), fi.ModTime().UnixNano(), ino)
	}
	return b.String(), true
}

func cachedRoots(caFile string) (*x509.CertPool, error) {
	key, ok := fileStamp(caFile)
	if pool, hit := rootsCache[key]; ok && hit {
		return pool, nil
	}
	pool, err := loadRoots(caFile)
	if err == nil && ok {
		rootsCache[key] = pool
	}
	return pool, err
}

func cachedKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	key, ok := fileStamp(certFile, keyFile)
	if pair, hit := pairsCache[key]; ok && hit {
		return pair, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil && ok {
		pairsCache[key] = pair
	}
	return pair, err
}

// config is the job's tls.Config (fresh per job, no ClientSessionCache), or the result of a job
// that cannot be attempted.
func config(j job) (*tls.Config, *result) {
	roots, err := cachedRoots(j.CAFile)
	if err != nil {
		r := probeError(j.ID, err.Error())
		return nil, &r
	}
	if j.Host == "" {
		r := probeError(j.ID, "job has no host")
		return nil, &r
	}
	if j.Port <= 0 || j.Port > 65535 {
		r := probeError(j.ID, fmt.Sprintf("invalid port %d", j.Port))
		return nil, &r
	}
	cfg := &tls.Config{
		RootCAs:    roots,
		ServerName: j.ServerName,
	}
	if j.ClientCertFile != nil || j.ClientKeyFile != nil {
		if j.ClientCertFile == nil || j.ClientKeyFile == nil {
			r := probeError(j.ID, "job fields client_cert_file and client_key_file go together")
			return nil, &r
		}
		cert, err := cachedKeyPair(*j.ClientCertFile, *j.ClientKeyFile)
		if err != nil {
			// Go refusing the key pair is the stack's own result, not a probe bug.
			return nil, &result{ID: j.ID, OK: false, Error: strp("cannot load client certificate: " + err.Error()),
				ErrorDetail: strp(errorDetail(err))}
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if err := kx.Apply(cfg, j.GroupCodes); err != nil {
		return nil, &result{ID: j.ID, OK: false, Error: strp(err.Error())}
	}
	if j.TLSVersion != nil {
		switch *j.TLSVersion {
		case "1.2":
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		case "1.3":
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
		default:
			r := probeError(j.ID, fmt.Sprintf("unsupported tls_version %q", *j.TLSVersion))
			return nil, &r
		}
	}
	return cfg, nil
}

func runJob(j job) result {
	cfg, bad := config(j)
	if bad != nil {
		return *bad
	}
	timeout := defaultTimeout
	if j.TimeoutMS != nil {
		if *j.TimeoutMS <= 0 {
			return probeError(j.ID, fmt.Sprintf("invalid timeout_ms %v", *j.TimeoutMS))
		}
		timeout = time.Duration(*j.TimeoutMS * float64(time.Millisecond))
	}
	return handshake(j, cfg, timeout)
}

// handshake: TCP connect + TLS handshake (+ the mTLS verdict) with verification on.
func handshake(j job, cfg *tls.Config, timeout time.Duration) result {
	mtls := len(cfg.Certificates) > 0
	// Passive observation only: a copy of the bytes the server sent and the
	// handshake secrets, used after a successful handshake to report the key
	// exchange group and signature scheme (Go 1.19's ConnectionState has
	// neither). Verification is untouched.
	var keylog bytes.Buffer
	cfg.KeyLogWriter = &keylog

	start := time.Now()
	deadline := start.Add(timeout)
	elapsed := func() float64 {
		return float64(time.Since(start).Microseconds()) / 1000.0
	}

	dialer := net.Dialer{Timeout: timeout, Deadline: deadline}
	raw, err := dialer.Dial("tcp", net.JoinHostPort(j.Host, strconv.Itoa(j.Port)))
	if err != nil {
		return failure(j.ID, err, elapsed())
	}
	_ = raw.SetDeadline(deadline)
	rec := &recordingConn{Conn: raw}
	conn := tls.Client(rec, cfg)
	err = conn.Handshake()
	el := elapsed()
	if err != nil {
		_ = conn.Close()
		return failure(j.ID, err, el)
	}
	if mtls {
		// TLS 1.3: the server judges our certificate after our side of the
		// handshake is done; its verdict (close_notify, or an alert such as
		// certificate_required) arrives on the next read. A server waiting for
		// a request (an HTTP app) sends nothing: silence means accepted.
		wait := time.Now().Add(acceptWait)
		if wait.After(deadline) {
			wait = deadline
		}
		_ = conn.SetReadDeadline(wait)
		var one [1]byte
		if _, rerr := conn.Read(one[:]); rerr != nil && rerr != io.EOF {
			var ne net.Error
			if !(errors.As(rerr, &ne) && ne.Timeout()) {
				_ = conn.Close()
				return failure(j.ID, rerr, elapsed())
			}
		}
	}
	state := conn.ConnectionState()
	_ = conn.Close()

	neg := &negotiated{
		Version: versionName(state.Version),
		Cipher:  tls.CipherSuiteName(state.CipherSuite),
	}
	neg.Group, neg.Sigalg, neg.HRR = observeHandshake(rec.buf.Bytes(), keylog.Bytes(), state)
	return result{ID: j.ID, OK: true, Error: nil, Negotiated: neg, ElapsedMS: el}
}

func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1.0"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

func failure(id json.RawMessage, err error, el float64) result {
	msg := err.Error()
	var ne net.Error
	if (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, os.ErrDeadlineExceeded) {
		msg = "timeout: " + msg
	}
	return result{ID: id, OK: false, Error: strp(msg), ErrorDetail: strp(errorDetail(err)),
		Negotiated: nil, ElapsedMS: el}
}

// errorDetail renders the chain of wrapped errors by type, outermost first,
// e.g. "*net.OpError > *os.SyscallError > syscall.Errno(111)" or
// "x509.CertificateInvalidError(Expired)". It never includes pointers.
func errorDetail(err error) string {
	var parts []string
	seen := 0
	for e := err; e != nil && seen < 16; e = errors.Unwrap(e) {
		parts = append(parts, describe(e))
		seen++
	}
	return strings.Join(parts, " > ")
}

func describe(e error) string {
	t := fmt.Sprintf("%T", e)
	switch v := e.(type) {
	case x509.CertificateInvalidError:
		return fmt.Sprintf("%s(%s)", t, invalidReason(v.Reason))
	case *x509.CertificateInvalidError:
		return fmt.Sprintf("%s(%s)", t, invalidReason(v.Reason))
	case x509.HostnameError:
		return fmt.Sprintf("%s(host=%q)", t, v.Host)
	case *x509.HostnameError:
		return fmt.Sprintf("%s(host=%q)", t, v.Host)
	case *net.OpError:
		return fmt.Sprintf("%s(op=%q)", t, v.Op)
	case *os.SyscallError:
		return fmt.Sprintf("%s(syscall=%q)", t, v.Syscall)
	}
	// Integer-kinded error types (syscall.Errno, the tls alert type, ...).
	rv := reflect.ValueOf(e)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("%s(%d)", t, rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("%s(%d)", t, rv.Uint())
	}
	return t
}

func invalidReason(r x509.InvalidReason) string {
	switch r {
	case x509.NotAuthorizedToSign:
		return "NotAuthorizedToSign"
	case x509.Expired:
		return "Expired"
	case x509.CANotAuthorizedForThisName:
		return "CANotAuthorizedForThisName"
	case x509.TooManyIntermediates:
		return "TooManyIntermediates"
	case x509.IncompatibleUsage:
		return "IncompatibleUsage"
	case x509.NameMismatch:
		return "NameMismatch"
	case x509.NameConstraintsWithoutSANs:
		return "NameConstraintsWithoutSANs"
	case x509.UnconstrainedName:
		return "UnconstrainedName"
	case x509.TooManyConstraints:
		return "TooManyConstraints"
	case x509.CANotAuthorizedForExtKeyUsage:
		return "CANotAuthorizedForExtKeyUsage"
	}
	return strconv.Itoa(int(r))
}
