resource "aws_instance" "x" {
  ami = var.missing
  count = "three"
  tags = { for k in [1, 2] : k => k... }
}
variable "v" { type = list(strin) }
output "o" { value = aws_instance.y.id }
locals { a = local.b
  b = local.a }
