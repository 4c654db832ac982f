resource "terraform_data" "a" {
  input            = { list = [1, 2.5, true, null], s = "q\"\\\n\u00e9" }
  triggers_replace = [timestamp()]
}
resource "terraform_data" "b" {
  input = "${terraform_data.a.output.s}-${jsonencode(terraform_data.a.input)}"
}
