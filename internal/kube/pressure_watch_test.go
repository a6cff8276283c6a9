package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGlancesURLUnit(t *testing.T) {
	node := func(name, ann, ip string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if ann != "" {
			n.Annotations = map[string]string{AnnotationGlancesURL: ann}
		}
		if ip != "" {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
		}
		return n
	}
	p := &PressureConfig{GlancesURLs: map[string]string{"n1": "http://10.0.0.9:61208"}}
	tests := []struct {
		name      string
		n         *corev1.Node
		want      string
		sendToken bool
	}{
		{"nodes file wins", node("n1", "http://evil:1", "10.0.0.1"), "http://10.0.0.9:61208", true},
		{"annotation, no token", node("n2", "http://127.0.0.1:7000", "10.0.0.2"), "http://127.0.0.1:7000", false},
		{"InternalIP", node("n3", "", "10.0.0.3"), "http://10.0.0.3:61208", true},
		{"IPv6 InternalIP", node("n4", "", "fd00::4"), "http://[fd00::4]:61208", true},
		{"nowhere", node("n5", "", ""), "", false},
	}
	for _, tt := range tests {
		got, tok := p.glancesURL(tt.n)
		if got != tt.want || tok != tt.sendToken {
			t.Errorf("%s: glancesURL = %q, %v; want %q, %v", tt.name, got, tok, tt.want, tt.sendToken)
		}
	}
}
