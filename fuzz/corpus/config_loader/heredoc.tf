resource "a" "b" {
  x = <<EOF
unterminated
