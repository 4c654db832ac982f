# Registries in stage and prod: a pushed tag never changes meaning, and every
# image is scanned when it is pushed.

policy "ecr-immutable-tags" {
  environments   = ["stage", "prod"]
  resource_types = ["aws_ecr_repository"]
  enforcement    = "deny"

  condition     = change.after.image_tag_mutability == "IMMUTABLE"
  error_message = "${resource.address} in ${environment} must have image_tag_mutability = \"IMMUTABLE\" (a released tag must never point at another image)."
}

policy "ecr-scan-on-push" {
  environments   = ["stage", "prod"]
  resource_types = ["aws_ecr_repository"]
  enforcement    = "deny"

  condition     = try(alltrue([for c in change.after.image_scanning_configuration : c.scan_on_push]) && length(change.after.image_scanning_configuration) > 0, false)
  error_message = "${resource.address} in ${environment} must scan images on push: image_scanning_configuration { scan_on_push = true }."
}
