// Command echoserver is the workload of Hedge's end-to-end tests: a small HTTP
// server that listens on a free loopback port, prints where, and answers with
// the instance it is.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	id := os.Getenv("HEDGE_INSTANCE_ID")
	fmt.Printf("listening on http://%s\n", ln.Addr())
	fmt.Fprintf(os.Stderr, "instance %s args %v greeting=%s\n", id, os.Args[1:], os.Getenv("GREETING"))
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from %s\n", os.Getenv("GREETING"), id)
	}))
	fmt.Fprintln(os.Stderr, "serve:", err)
	os.Exit(1)
}
