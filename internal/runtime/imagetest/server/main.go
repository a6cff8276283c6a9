// Command server is the tiny HTTP server that imagetest builds into test
// images. It needs nothing from the image but itself (it is built static), so
// it runs on an empty root file system.
//
//	GET /          "hello from <HOSTNAME or HEDGE_INSTANCE_ID>"
//	GET /alloc?mb=N allocates N MB, touches every page and keeps them
//
// It listens on :$PORT (default 8080), prints "listening on :PORT" once it
// accepts connections, and exits 0 on SIGTERM.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

var (
	mu   sync.Mutex
	held [][]byte
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", hello)
	http.HandleFunc("/alloc", alloc)
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		fmt.Println("terminating")
		os.Exit(0)
	}()
	fmt.Printf("listening on :%s\n", port)
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func hello(w http.ResponseWriter, _ *http.Request) {
	name := os.Getenv("HOSTNAME")
	if name == "" {
		name = os.Getenv("HEDGE_INSTANCE_ID")
	}
	fmt.Fprintf(w, "hello from %s\n", name)
}

// alloc allocates and touches the memory, so that it is really resident and
// counts against the instance's memory limit.
func alloc(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 0 {
		http.Error(w, "want /alloc?mb=N with N >= 0", http.StatusBadRequest)
		return
	}
	b := make([]byte, mb<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	mu.Lock()
	held = append(held, b)
	mu.Unlock()
	fmt.Fprintf(w, "allocated %d MB\n", mb)
}
