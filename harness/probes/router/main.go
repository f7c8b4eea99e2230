// Command tlsmatrix-router carries the docker backend's connections from the
// host's client stacks to a container's listeners through one published port,
// instead of one published port per listener (each costs the Docker daemon
// ~20 ms to add and ~60 ms to remove: docs/performance.md, "Docker").
//
// Two halves of one TCP relay, bytes passed through unchanged (the TLS handshake
// is the client's and the server's own, end to end):
//
//	tlsmatrix-router inside ADDR
//	    in the container: accepts on ADDR (the one published port); each
//	    connection starts with one line "PORT\n" naming the listener, then is
//	    spliced to 127.0.0.1:PORT.
//	tlsmatrix-router outside TARGET PORT...
//	    on the host: one listener on 127.0.0.1 per container PORT; writes one
//	    JSON line {"ports": {"PORT": hostPort, ...}}, then relays each connection
//	    to TARGET (the published port), preceded by "PORT\n"; exits when stdin
//	    reaches EOF (its parent is gone) or on SIGTERM.
//
// A half-close is passed on (CloseWrite), so a server's close_notify or EOF
// reaches the client as it would directly. Standard library only.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

const dialTimeout = 10 * time.Second

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "inside" {
		fatal(inside(os.Args[2]))
	}
	if len(os.Args) >= 4 && os.Args[1] == "outside" {
		fatal(outside(os.Args[2], os.Args[3:]))
	}
	fatal(fmt.Errorf("usage: %s inside ADDR | outside TARGET PORT...", os.Args[0]))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "tlsmatrix-router:", err)
	os.Exit(2)
}

func inside(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			reader := bufio.NewReader(conn)
			line, err := reader.ReadString('\n')
			port, perr := strconv.Atoi(strings.TrimSpace(line))
			if err != nil || perr != nil || port <= 0 || port > 65535 {
				conn.Close()
				return
			}
			server, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dialTimeout)
			if err != nil {
				conn.Close() // as a published port whose listener is gone: the client sees EOF
				return
			}
			splice(conn, reader, server)
		}()
	}
}

func outside(target string, ports []string) error {
	hostPorts := map[string]int{}
	for _, port := range ports {
		if _, err := strconv.Atoi(port); err != nil {
			return fmt.Errorf("not a port: %q", port)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hostPorts[port] = ln.Addr().(*net.TCPAddr).Port
		go serve(ln, target, port)
	}
	line, _ := json.Marshal(map[string]interface{}{"ports": hostPorts})
	fmt.Println(string(line))
	io.Copy(ioutil.Discard, os.Stdin) // the harness holds stdin open while it needs the relay
	return nil
}

func serve(ln net.Listener, target, port string) {
	for {
		client, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			server, err := net.DialTimeout("tcp", target, dialTimeout)
			if err != nil {
				client.Close()
				return
			}
			if _, err := server.Write([]byte(port + "\n")); err != nil {
				client.Close()
				server.Close()
				return
			}
			splice(client, client, server)
		}()
	}
}

// splice copies both ways until both directions are done; from is what the
// client side is read from (a bufio.Reader may hold bytes read with the
// routing line).
func splice(client net.Conn, from io.Reader, server net.Conn) {
	done := make(chan struct{}, 2)
	pass := func(dst net.Conn, src io.Reader) {
		io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			tcp.CloseWrite()
		}
		done <- struct{}{}
	}
	go pass(server, from)
	go pass(client, server)
	<-done
	<-done
	client.Close()
	server.Close()
}
