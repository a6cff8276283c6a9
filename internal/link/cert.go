package link

import (
	"context"
	"fmt"
	"net/http"
)

// CertificateRequest asks the upper tier to sign a serving certificate for
// the peer's own listener (a cluster's, for its workers).
type CertificateRequest struct {
	// CSR is a PEM certificate request; only its key is used.
	CSR string `json:"csr"`
}

// CertificateResponse carries the signed certificate followed by the CA.
type CertificateResponse struct {
	Chain string `json:"chain"`
}

// Signer is implemented by an upper tier that holds a CA (the root): it
// signs a certificate for the key in csrPEM on behalf of an authenticated
// peer, choosing the names itself. Upper tiers without a CA do not
// implement it and the endpoint answers 404.
type Signer interface {
	SignCertificate(ctx context.Context, peerID string, csrPEM []byte) (chainPEM []byte, err error)
}

func (s *Server) certificate(w http.ResponseWriter, r *http.Request, peer string) {
	signer, ok := s.up.(Signer)
	if !ok {
		http.Error(w, "this tier signs no certificates", http.StatusNotFound)
		return
	}
	var req CertificateRequest
	if err := decode(r, &req); err != nil {
		s.writeErr(w, err)
		return
	}
	if req.CSR == "" {
		s.writeErr(w, fmt.Errorf("%w: csr: required (a PEM certificate request)", ErrInvalid))
		return
	}
	chain, err := signer.SignCertificate(r.Context(), peer, []byte(req.CSR))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	s.log.Info("link: certificate issued", "peer_id", peer)
	writeJSON(w, CertificateResponse{Chain: string(chain)})
}

// Certificate asks the upper tier to sign csrPEM and returns the chain.
func (c *Client) Certificate(ctx context.Context, csrPEM []byte) ([]byte, error) {
	var resp CertificateResponse
	if err := c.do(ctx, http.MethodPost, "/link/v1/certificate", CertificateRequest{CSR: string(csrPEM)}, &resp); err != nil {
		return nil, err
	}
	return []byte(resp.Chain), nil
}
