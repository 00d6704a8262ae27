// Command forward joins the dev cluster's node network namespace to the machine's loopback, and
// nothing else. One process holds sockets on both sides:
//
//	--forward inside:10.200.0.1:6443=host:127.0.0.1:6443
//	    listens inside the namespace and connects on the machine's loopback (node → API server);
//	--forward host:127.0.0.1:5000=inside:10.200.0.1:5000
//	    the other way round;
//	--connect-proxy /run/x.sock --inside-cidr 10.200.0.0/16
//	    an HTTP CONNECT proxy on a unix socket (the API server's egress to the cluster: kubelet logs,
//	    exec, port-forward): targets inside the given ranges are dialled inside the namespace,
//	    loopback targets on the machine's loopback, anything else is refused.
//
// It never connects anywhere but loopback or an address inside the namespace. It prints "ready" on
// stdout once every listener is open, and exits on SIGINT or SIGTERM.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

const sysSetns = 308 // setns(2) on linux/amd64

type side string

const (
	inside side = "inside"
	host   side = "host"
)

type endpoint struct {
	side side
	addr string
}

type namespaces struct {
	inside *os.File
	host   *os.File
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var forwards, insideCIDRs multiFlag
	netnsPath := flag.String("netns", "", "path of the node's network namespace (e.g. /run/netns/NAME)")
	proxySocket := flag.String("connect-proxy", "", "unix socket path for an HTTP CONNECT proxy")
	flag.Var(&forwards, "forward", "SIDE:HOST:PORT=SIDE:HOST:PORT, SIDE is inside or host (repeatable)")
	flag.Var(&insideCIDRs, "inside-cidr", "address range dialled inside the namespace by the CONNECT proxy (repeatable)")
	flag.Parse()
	if err := run(*netnsPath, forwards, *proxySocket, insideCIDRs); err != nil {
		fmt.Fprintf(os.Stderr, "forward: %v\n", err)
		os.Exit(1)
	}
}

func run(netnsPath string, forwards []string, proxySocket string, cidrs []string) error {
	ns, err := openNamespaces(netnsPath)
	if err != nil {
		return err
	}
	for _, spec := range forwards {
		from, to, err := parseForward(spec)
		if err != nil {
			return err
		}
		listener, err := ns.listen(from)
		if err != nil {
			return fmt.Errorf("listening on %s %s: %w", from.side, from.addr, err)
		}
		go serveForward(listener, ns, to)
	}
	if proxySocket != "" {
		ranges, err := parseCIDRs(cidrs)
		if err != nil {
			return err
		}
		_ = os.Remove(proxySocket)
		listener, err := net.Listen("unix", proxySocket)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", proxySocket, err)
		}
		defer os.Remove(proxySocket)
		go serveConnectProxy(listener, ns, ranges)
	}
	fmt.Println("ready")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

func openNamespaces(netnsPath string) (*namespaces, error) {
	if netnsPath == "" {
		return nil, errors.New("--netns is required")
	}
	insideFile, err := os.Open(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("opening the node namespace: %w", err)
	}
	hostFile, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), syscall.Gettid()))
	if err != nil {
		return nil, fmt.Errorf("opening this process's own namespace: %w", err)
	}
	return &namespaces{inside: insideFile, host: hostFile}, nil
}

// within runs fn on an OS thread switched into the namespace of the given side, then switches back.
func (ns *namespaces) within(s side, fn func() error) error {
	if s == host {
		return fn()
	}
	runtime.LockOSThread()
	if err := setns(ns.inside); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering the node namespace: %w", err)
	}
	fnErr := fn()
	if err := setns(ns.host); err != nil {
		// The thread stays locked and dies with this goroutine: it must not serve anyone else.
		return fmt.Errorf("leaving the node namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

func setns(f *os.File) error {
	_, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (ns *namespaces) listen(e endpoint) (net.Listener, error) {
	var listener net.Listener
	err := ns.within(e.side, func() error {
		var err error
		listener, err = net.Listen("tcp", e.addr)
		return err
	})
	return listener, err
}

func (ns *namespaces) dial(e endpoint) (net.Conn, error) {
	var conn net.Conn
	err := ns.within(e.side, func() error {
		var err error
		conn, err = net.Dial("tcp", e.addr)
		return err
	})
	return conn, err
}

func parseForward(spec string) (endpoint, endpoint, error) {
	from, to, ok := strings.Cut(spec, "=")
	if !ok {
		return endpoint{}, endpoint{}, fmt.Errorf("--forward %q: expected FROM=TO", spec)
	}
	a, err := parseEndpoint(from)
	if err != nil {
		return endpoint{}, endpoint{}, err
	}
	b, err := parseEndpoint(to)
	if err != nil {
		return endpoint{}, endpoint{}, err
	}
	if b.side == host && !isLoopback(b.addr) {
		return endpoint{}, endpoint{}, fmt.Errorf("--forward %q: the machine side may only be a loopback address", spec)
	}
	return a, b, nil
}

func parseEndpoint(s string) (endpoint, error) {
	name, addr, ok := strings.Cut(s, ":")
	if !ok || (side(name) != inside && side(name) != host) {
		return endpoint{}, fmt.Errorf("%q: expected inside:HOST:PORT or host:HOST:PORT", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return endpoint{}, fmt.Errorf("%q: %w", s, err)
	}
	return endpoint{side: side(name), addr: addr}, nil
}

func isLoopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func parseCIDRs(cidrs []string) ([]*net.IPNet, error) {
	var ranges []*net.IPNet
	for _, c := range cidrs {
		_, r, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("--inside-cidr %q: %w", c, err)
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

func serveForward(listener net.Listener, ns *namespaces, to endpoint) {
	for {
		client, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "forward: accept on %s: %v\n", listener.Addr(), err)
			return
		}
		go func() {
			upstream, err := ns.dial(to)
			if err != nil {
				fmt.Fprintf(os.Stderr, "forward: dial %s %s: %v\n", to.side, to.addr, err)
				client.Close()
				return
			}
			splice(client, upstream)
		}()
	}
}

func serveConnectProxy(listener net.Listener, ns *namespaces, ranges []*net.IPNet) {
	for {
		client, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "forward: accept on %s: %v\n", listener.Addr(), err)
			return
		}
		go handleConnect(client, ns, ranges)
	}
}

func handleConnect(client net.Conn, ns *namespaces, ranges []*net.IPNet) {
	reader := bufio.NewReader(client)
	req, err := http.ReadRequest(reader)
	if err != nil || req.Method != http.MethodConnect {
		fmt.Fprint(client, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		client.Close()
		return
	}
	target, err := targetOf(req.Host, ranges)
	if err != nil {
		fmt.Fprintf(client, "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\n%v\n", err)
		client.Close()
		return
	}
	upstream, err := ns.dial(target)
	if err != nil {
		fmt.Fprintf(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\n%v\n", err)
		client.Close()
		return
	}
	fmt.Fprint(client, "HTTP/1.1 200 Connection established\r\n\r\n")
	if n := reader.Buffered(); n > 0 {
		buffered, _ := reader.Peek(n)
		if _, err := upstream.Write(buffered); err != nil {
			client.Close()
			upstream.Close()
			return
		}
	}
	splice(client, upstream)
}

func targetOf(hostPort string, ranges []*net.IPNet) (endpoint, error) {
	h, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return endpoint{}, fmt.Errorf("CONNECT %q: %w", hostPort, err)
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return endpoint{}, fmt.Errorf("CONNECT %q: only IP addresses are forwarded", hostPort)
	}
	if ip.IsLoopback() {
		return endpoint{side: host, addr: hostPort}, nil
	}
	for _, r := range ranges {
		if r.Contains(ip) {
			return endpoint{side: inside, addr: hostPort}, nil
		}
	}
	return endpoint{}, fmt.Errorf("CONNECT %q: not loopback and not inside the node namespace", hostPort)
}

func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go copyHalf(a, b)
	go copyHalf(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
