// Command tlsmatrix-go-server is the tlsmatrix TLS server program for Go's
// crypto/tls.
//
// It speaks the JSON-lines protocol described in docs/probe-contract.md
// ("Server programs"): it reads one configuration line, writes a hello line,
// one line per listener ({"id","port"} or {"id","error"}) and {"ready": true},
// then completes TLS handshakes on every listener until stdin reaches EOF or
// it receives SIGTERM/SIGINT.
//
// With --config PATH ("Server programs inside containers") the configuration
// is read from that file instead, stdin is not watched and the program runs
// until SIGTERM/SIGINT. The configuration may then say "container": true,
// which allows "host": "0.0.0.0", and listeners may ask for a fixed "port".
// Standard library only.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"io/ioutil" // Go 1.15 (Debian bullseye) has no os.ReadFile
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"tlsmatrix/probes/go/buildinfo"
	"tlsmatrix/probes/go/kx"
)

const (
	stackName        = "go crypto/tls"
	handshakeTimeout = 10 * time.Second
)

type listenerConfig struct {
	ID         string  `json:"id"`
	CertFile   string  `json:"cert_file"`
	KeyFile    string  `json:"key_file"`
	TLSVersion *string `json:"tls_version"`
	// Port asks for a fixed port; absent or 0 lets the OS choose.
	Port int `json:"port"`
	// App: "" completes handshakes and closes; "kubernetes" serves a small
	// Kubernetes API (HTTP/1.1) on the connection, for real Kubernetes clients.
	App string `json:"app"`
	// ClientCAFile turns on mTLS: the client must present a certificate that
	// chains to one of these CAs (tls.RequireAndVerifyClientCert). With app
	// "kubernetes" a certificate is optional, as on kube-apiserver: one that is
	// presented must verify, and a client without one is system:anonymous,
	// which may not list pods (403 Forbidden).
	ClientCAFile string `json:"client_ca_file"`
	// Replay (tlsmatrix replay): present the certificate file's blocks byte
	// for byte, unparsed (a malformed certificate is sent as it is), and sign
	// the handshake with key_file even when it belongs to no certificate here
	// (a substitute key: the reporter's server key is not in the bug report).
	Replay bool `json:"replay"`
	// the key-exchange groups to accept, in preference order (code points =
	// Go's CurveIDs); none: Go's own list
	GroupCodes []uint16 `json:"group_codes"`
}

type config struct {
	Host      string           `json:"host"`
	Container bool             `json:"container"`
	Listeners []listenerConfig `json:"listeners"`
}

type hello struct {
	Stack    string            `json:"stack"`
	Version  string            `json:"version"`
	Provider *string           `json:"provider"`
	Details  map[string]string `json:"details,omitempty"`
}

type listenerOK struct {
	ID   string `json:"id"`
	Port int    `json:"port"`
}

type listenerErr struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

var out = bufio.NewWriter(os.Stdout)

func emit(v interface{}) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		log.Fatalf("cannot encode output: %v", err)
	}
	if _, err := out.Write(buf.Bytes()); err != nil {
		os.Exit(1)
	}
	if err := out.Flush(); err != nil {
		os.Exit(1)
	}
}

// allowedHost reports whether the server may bind to h: loopback always, the
// IPv4 wildcard only inside a container (whose network namespace is reached
// solely through Docker's port publishing on the host's loopback).
func allowedHost(h string, container bool) bool {
	switch h {
	case "127.0.0.1", "::1", "localhost":
		return true
	case "0.0.0.0":
		return container
	}
	return false
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("tlsmatrix-go-server: ")

	// Signals first, so a SIGTERM during start-up also ends us promptly.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		log.Printf("received %v, exiting", s)
		os.Exit(0)
	}()

	configPath := flag.String("config", "", "read the configuration JSON from this file instead of stdin; stdin is then not watched")
	flag.Parse()
	if flag.NArg() != 0 {
		log.Printf("unexpected arguments: %q", flag.Args())
		os.Exit(2)
	}

	var (
		in    *bufio.Reader
		input []byte
	)
	if *configPath != "" {
		data, err := ioutil.ReadFile(*configPath)
		if err != nil {
			log.Printf("cannot read configuration: %v", err)
			os.Exit(2)
		}
		input = data
	} else {
		in = bufio.NewReaderSize(os.Stdin, 64*1024)
		line, err := in.ReadString('\n')
		if err != nil && !(err == io.EOF && strings.TrimSpace(line) != "") {
			log.Printf("no configuration line on stdin: %v", err)
			os.Exit(2)
		}
		input = []byte(line)
	}
	var cfg config
	if err := json.Unmarshal(input, &cfg); err != nil {
		log.Printf("invalid configuration JSON: %v", err)
		os.Exit(2)
	}
	if !allowedHost(cfg.Host, cfg.Container) {
		if cfg.Host == "0.0.0.0" {
			log.Printf("refusing to bind to host %q without \"container\": true", cfg.Host)
		} else {
			log.Printf("refusing to bind to host %q: only 127.0.0.1, ::1 or localhost (or 0.0.0.0 with \"container\": true) are allowed", cfg.Host)
		}
		os.Exit(2)
	}

	emit(map[string]hello{"hello": {Stack: stackName, Version: runtime.Version(), Provider: nil, Details: buildinfo.Details()}})

	var listeners []net.Listener
	for _, lc := range cfg.Listeners {
		ln, err := startListener(cfg.Host, lc)
		if err != nil {
			log.Printf("[%s] not started: %v", lc.ID, err)
			emit(listenerErr{ID: lc.ID, Error: err.Error()})
			continue
		}
		listeners = append(listeners, ln)
		emit(listenerOK{ID: lc.ID, Port: ln.Addr().(*net.TCPAddr).Port})
	}
	emit(map[string]bool{"ready": true})

	if in == nil {
		// --config: stdin is not watched; serve until SIGTERM/SIGINT.
		select {}
	}

	// Serve until stdin reaches EOF (the harness went away or closed it).
	_, _ = io.Copy(ioutil.Discard, in)
	log.Printf("stdin closed, exiting")
	for _, ln := range listeners {
		_ = ln.Close()
	}
	os.Exit(0)
}

func startListener(host string, lc listenerConfig) (net.Listener, error) {
	tcfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS13,
	}
	if lc.TLSVersion != nil {
		switch *lc.TLSVersion {
		case "1.2":
			tcfg.MinVersion, tcfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		case "1.3":
			tcfg.MinVersion, tcfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
		default:
			return nil, fmt.Errorf("unsupported tls_version %q", *lc.TLSVersion)
		}
	}
	if err := kx.Apply(tcfg, lc.GroupCodes); err != nil {
		return nil, err
	}
	cert, err := loadCertificate(lc)
	if err != nil {
		return nil, err
	}
	tcfg.Certificates = []tls.Certificate{cert}
	if lc.ClientCAFile != "" {
		pemData, err := ioutil.ReadFile(lc.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("client_ca_file %s: no PEM certificate", lc.ClientCAFile)
		}
		tcfg.ClientCAs = pool
		tcfg.ClientAuth = tls.RequireAndVerifyClientCert
		if lc.App == "kubernetes" {
			tcfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}

	if lc.Port < 0 || lc.Port > 65535 {
		return nil, fmt.Errorf("invalid port %d", lc.Port)
	}
	network := "tcp"
	if host == "0.0.0.0" {
		// "tcp" would turn the IPv4 wildcard into a dual-stack [::] socket.
		network = "tcp4"
	}
	if lc.App != "" && lc.App != "kubernetes" {
		return nil, fmt.Errorf("unknown app %q (known: kubernetes)", lc.App)
	}
	ln, err := net.Listen(network, net.JoinHostPort(host, fmt.Sprint(lc.Port)))
	if err != nil {
		return nil, err
	}
	if lc.App == "kubernetes" {
		srv := &http.Server{
			Handler:           kubernetesAPI(lc.ClientCAFile != ""),
			ReadHeaderTimeout: handshakeTimeout,
			ErrorLog:          log.New(os.Stderr, "["+lc.ID+"] ", 0),
		}
		go func() { _ = srv.Serve(tls.NewListener(ln, tcfg)) }()
		return ln, nil
	}
	go acceptLoop(lc.ID, ln, tcfg)
	return ln, nil
}

// loadCertificate reads the listener's chain and key. tls.LoadX509KeyPair
// parses the leaf and checks that the key belongs to it; a replayed chain is
// taken as given instead (crypto/tls sends Certificate.Certificate unparsed
// and picks its signature scheme from the key alone).
func loadCertificate(lc listenerConfig) (tls.Certificate, error) {
	if !lc.Replay {
		cert, err := tls.LoadX509KeyPair(lc.CertFile, lc.KeyFile)
		if err == nil || !leafUnparsable(lc.CertFile) {
			return cert, err
		}
		// a chain whose leaf does not parse (a malformed-certificate defect): serve it as given,
		// the clients' verdicts on it are what the cells measure
	}
	return loadAsGiven(lc)
}

// leafUnparsable reports whether the first certificate of the file does not parse.
func leafUnparsable(certFile string) bool {
	data, err := ioutil.ReadFile(certFile)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return false
	}
	_, err = x509.ParseCertificate(block.Bytes)
	return err != nil
}

// loadAsGiven reads the certificate blocks unparsed and the PKCS#8 key, which need not match.
func loadAsGiven(lc listenerConfig) (tls.Certificate, error) {
	var cert tls.Certificate
	rest, err := ioutil.ReadFile(lc.CertFile)
	if err != nil {
		return cert, err
	}
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, block.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return cert, fmt.Errorf("%s: no CERTIFICATE block", lc.CertFile)
	}
	keyPEM, err := ioutil.ReadFile(lc.KeyFile)
	if err != nil {
		return cert, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return cert, fmt.Errorf("%s: no PEM key", lc.KeyFile)
	}
	cert.PrivateKey, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	return cert, err
}

// kubernetesAPI answers the few requests a client needs to list pods in "default":
// GET /version, /api, /api/v1/namespaces/default/pods; a 404 Status for the rest.
// With authn, listing pods needs a (verified) client certificate: without one the
// request is system:anonymous's and gets kube-apiserver's 403 Status.
func kubernetesAPI(authn bool) http.Handler {
	writeJSON := func(w http.ResponseWriter, code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"major":"1","minor":"30","gitVersion":"v1.30.0-tlsmatrix","gitCommit":"0000000","gitTreeState":"clean","buildDate":"2025-01-01T00:00:00Z","goVersion":"`+runtime.Version()+`","compiler":"gc","platform":"linux/amd64"}`)
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}`)
	})
	mux.HandleFunc("/api/v1/namespaces/default/pods", func(w http.ResponseWriter, r *http.Request) {
		if authn && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
			writeJSON(w, 403, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}`)
			return
		}
		items := []string{}
		for _, name := range []string{"tlsmatrix-a", "tlsmatrix-b", "tlsmatrix-c"} {
			items = append(items, `{"metadata":{"name":"`+name+`","namespace":"default","uid":"00000000-0000-0000-0000-0000000000`+name[len(name)-1:]+`0","resourceVersion":"1","creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"containers":[{"name":"app","image":"tlsmatrix/test"}]},"status":{"phase":"Running"}}`)
		}
		writeJSON(w, 200, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[`+strings.Join(items, ",")+`]}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`)
	})
	return mux
}

func acceptLoop(id string, ln net.Listener, tcfg *tls.Config) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if strings.Contains(err.Error(), "use of closed network connection") {
				return
			}
			log.Printf("[%s] accept: %v", id, err)
			time.Sleep(50 * time.Millisecond) // e.g. EMFILE: back off, keep serving
			continue
		}
		go serve(id, c, tcfg)
	}
}

func serve(id string, c net.Conn, tcfg *tls.Config) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	tc := tls.Server(c, tcfg)
	if err := tc.Handshake(); err != nil {
		log.Printf("[%s] handshake with %s failed: %v", id, c.RemoteAddr(), err)
		return
	}
	_ = tc.Close()
}
