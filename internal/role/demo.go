package role

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/examples"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/sla"
)

// deployDemo deploys the bundled example as admin, unless it is already
// there, and prints its instances' progress until they all run.
func deployDemo(ctx context.Context, r *root.Root, out io.Writer) error {
	doc, err := sla.Parse(examples.Hello)
	if err != nil {
		return fmt.Errorf("bundled example: %w", err)
	}
	admin := root.Caller{User: "admin", Admin: true}
	_, svcs, err := r.Submit(ctx, admin, doc, true)
	switch {
	case errors.Is(err, root.ErrConflict):
		fmt.Fprintln(out, "Example application hello is already deployed.")
		return nil
	case err != nil:
		return fmt.Errorf("deploy example: %w", err)
	}
	id := svcs[0].ID
	fmt.Fprintf(out, "Deploying the example application hello (examples/hello.yaml)...\n")
	last := ""
	for ctx.Err() == nil {
		s, err := r.Service(admin, id)
		if err != nil {
			return err
		}
		line, done := progress(s)
		if line != last {
			fmt.Fprintln(out, "  "+line)
			last = line
		}
		if done {
			fmt.Fprintf(out, "The example runs. Try:\n  hedge get instances\n  hedge logs hello/greeter\n  hedge delete app hello\n")
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func progress(s api.Service) (string, bool) {
	var parts []string
	running := 0
	for _, in := range s.Instances {
		p := fmt.Sprintf("#%d %s", in.Number, in.Status)
		if in.NodeName != "" {
			p += " on " + in.NodeName
		}
		if in.Reason != "" {
			p += " (" + in.Reason + ")"
		}
		parts = append(parts, p)
		if in.Status == api.StateRunning {
			running++
		}
	}
	return fmt.Sprintf("%s/%s: %s", s.AppName, s.Spec.Name, strings.Join(parts, ", ")), running == len(s.Instances) && running > 0
}
