package placement

import (
	"context"
	"testing"
)

func TestWorstFit(t *testing.T) {
	for _, tt := range fitCases {
		t.Run(tt.name, func(t *testing.T) {
			got, st := WorstFit{}.Score(context.Background(), tt.req, tt.cand)
			if st != nil {
				t.Fatalf("status = %v, want nil", st)
			}
			if got != tt.worstFit {
				t.Errorf("score = %d, want %d", got, tt.worstFit)
			}
		})
	}
}
