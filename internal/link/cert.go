package link

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hedgeorch/hedge/internal/pki"
)

// CertificateRequest asks the upper tier to sign a serving certificate for
// the peer's own listener (a cluster's, for its workers).
type CertificateRequest struct {
	// CSR is a PEM certificate request; only its key is used.
	CSR string `json:"csr"`
	// Node, set by a cluster, asks for the client certificate of one of
	// its workers (joining, or renewing through the cluster) instead of
	// the cluster's own.
	Node string `json:"node,omitempty"`
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

// NodeSigner is implemented by the root: it signs a worker's client
// certificate that a cluster asks for (CertificateRequest.Node).
type NodeSigner interface {
	SignNodeCertificate(ctx context.Context, clusterID, nodeID string, csrPEM []byte) (chainPEM []byte, err error)
}

// PeerKind is implemented by an Upper whose peers prove their identity
// with a client certificate: it names the kind of peer they are
// (pki.KindCluster at the root, pki.KindNode at a cluster), so that a
// certificate of another kind is refused.
type PeerKind interface {
	PeerKind() string
}

// signJoin signs the client certificate a joining peer asked for, when the
// upper tier signs certificates.
func (s *Server) signJoin(ctx context.Context, req JoinRequest, resp *JoinResponse) error {
	signer, ok := s.up.(Signer)
	if req.CSR == "" || !ok {
		return nil
	}
	chain, err := signer.SignCertificate(ctx, resp.ID, []byte(req.CSR))
	if errors.Is(err, ErrNotFound) {
		return nil // this tier has no one to sign: no certificate
	}
	if err != nil {
		return fmt.Errorf("client certificate of %s: %w", resp.ID, err)
	}
	resp.Certificate = string(chain)
	return nil
}

// checkClientCert enforces mutual TLS on a link request that came over
// TLS: the connection must have presented a client certificate that the
// listener verified against the CA and that names peer (and, where the
// tier says, its kind). Requests that did not come over TLS are from a
// local socket (hedge-kube) or tests: the root's plain listener refuses
// /link/ before it gets here.
func (s *Server) checkClientCert(r *http.Request, peer string) error {
	if r.TLS == nil {
		return nil
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return fmt.Errorf("%w: a client certificate signed by the CA is required on tier links (join again to get one)", ErrUnauthorized)
	}
	kind, id, ok := pki.PeerOf(r.TLS.VerifiedChains[0][0])
	if !ok || id != peer {
		return fmt.Errorf("%w: the client certificate does not name the peer of the credential", ErrUnauthorized)
	}
	if pk, ok := s.up.(PeerKind); ok && pk.PeerKind() != kind {
		return fmt.Errorf("%w: the client certificate names a %s, not a %s", ErrUnauthorized, kind, pk.PeerKind())
	}
	return nil
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
	var chain []byte
	var err error
	if req.Node != "" {
		ns, ok := s.up.(NodeSigner)
		if !ok {
			http.Error(w, "this tier signs no certificates for workers", http.StatusNotFound)
			return
		}
		chain, err = ns.SignNodeCertificate(r.Context(), peer, req.Node, []byte(req.CSR))
	} else {
		chain, err = signer.SignCertificate(r.Context(), peer, []byte(req.CSR))
	}
	if err != nil {
		s.writeErr(w, err)
		return
	}
	s.log.Info("link: certificate issued", "peer_id", peer, "node_id", req.Node)
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

// NodeCertificate asks the upper tier (the root) to sign the client
// certificate of the cluster's worker nodeID and returns the chain.
func (c *Client) NodeCertificate(ctx context.Context, nodeID string, csrPEM []byte) ([]byte, error) {
	var resp CertificateResponse
	if err := c.do(ctx, http.MethodPost, "/link/v1/certificate", CertificateRequest{CSR: string(csrPEM), Node: nodeID}, &resp); err != nil {
		return nil, err
	}
	return []byte(resp.Chain), nil
}
