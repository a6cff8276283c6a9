package pki

import "strings"

// tokenSep separates the CA pin from the secret in a join token, as "::"
// does in a k3s token (K10<ca-hash>::<credentials>).
const tokenSep = "::"

// JoinToken returns the token a lower tier is given: the CA pin and the
// secret, "sha256:<hex>::<secret>". It carries everything needed to join
// safely: the pin authenticates the upper tier, the secret the peer.
func JoinToken(pin, secret string) string {
	if pin == "" {
		return secret
	}
	return pin + tokenSep + secret
}

// SplitToken returns the pin and the secret of a join token; a token without
// a pin (given with --ca-pin or --ca-cert instead) has pin "".
func SplitToken(tok string) (pin, secret string, err error) {
	p, s, ok := strings.Cut(tok, tokenSep)
	if !ok {
		return "", tok, nil
	}
	if pin, err = ParsePin(p); err != nil {
		return "", "", err
	}
	return pin, s, nil
}
