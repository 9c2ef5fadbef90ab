package manifest

import "testing"

func TestDecodeSplitsDocumentsAndSkipsEmptyOnes(t *testing.T) {
	objs, err := Decode([]byte("# a comment only\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: brookfield\n---\n---\napiVersion: caseload.dev/v1alpha1\nkind: Team\nmetadata:\n  name: north\n  namespace: brookfield\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetKind() != "Namespace" || objs[1].GetName() != "north" || objs[1].GetNamespace() != "brookfield" {
		t.Fatalf("got %d objects: %+v", len(objs), objs)
	}
	if _, err := Decode([]byte("kind: [unclosed\n")); err == nil {
		t.Errorf("broken YAML must be an error, not an empty result")
	}
}
