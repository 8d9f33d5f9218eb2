package node_test

import (
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/strata-io/strata/node"
)

// Attributes and tags end to end: profile and tag events set them, the user
// view shows them, and DELETE /v1/users/{user}/attributes erases them
// through the event stream.
func TestAttributesAndTags(t *testing.T) {
	h := newHarness(t)
	ts := t0.Format("2006-01-02T15:04:05Z")
	h.publish("a1", []byte(`{"id":"p1","user":"a1","type":"profile","ts":"`+ts+`","props":{"region":"eu","age_band":"25-34","newsletter":true}}`))
	h.publish("a1", []byte(`{"id":"t1","user":"a1","type":"tag_add","ts":"`+ts+`","props":{"tags":["vip","beta"]}}`))
	h.publish("a1", []byte(`{"id":"p2","user":"a1","type":"profile","ts":"`+ts+`","props":{"age_band":null}}`))
	h.publish("a1", []byte(`{"id":"t2","user":"a1","type":"tag_remove","ts":"`+ts+`","props":{"tags":["beta"]}}`))
	h.waitEvents("a1", 4)
	v := h.user("a1")
	if want := map[string]string{"region": "eu", "newsletter": "true"}; !maps.Equal(v.Attributes, want) {
		t.Errorf("attributes %v, want %v", v.Attributes, want)
	}
	if !slices.Equal(v.Tags, []string{"vip"}) {
		t.Errorf("tags %v", v.Tags)
	}
	if v.Tiers["lifecycle"] != "" {
		t.Errorf("attribute events made the user %q in lifecycle", v.Tiers["lifecycle"])
	}

	var erased node.EraseResponse
	if s := h.send(http.MethodDelete, "/v1/users/a1/attributes", "", &erased); s != http.StatusAccepted || erased.Event == "" {
		t.Fatalf("DELETE attributes: %d %+v", s, erased)
	}
	h.waitEvents("a1", 5)
	v = h.user("a1")
	if v.Attributes != nil || v.Tags != nil {
		t.Errorf("after the erasure: attributes %v tags %v", v.Attributes, v.Tags)
	}
	if s := h.send(http.MethodDelete, "/v1/users/a.b/attributes", "", nil); s != http.StatusBadRequest {
		t.Errorf("DELETE attributes of a user that is no subject token: %d", s)
	}
}
