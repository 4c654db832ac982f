# No ingress from the whole internet (0.0.0.0/0 or ::/0), except HTTP and
# HTTPS (ports 80 and 443) into the security group of a load balancer — a
# group that an aws_lb or aws_elb of the same plan uses.

policy "no-open-ingress" {
  resource_types = ["aws_security_group"]
  enforcement    = "deny"

  condition = alltrue([
    for rule in try(tolist(change.after.ingress), []) :
    !(try(contains(rule.cidr_blocks, "0.0.0.0/0"), false) || try(contains(rule.ipv6_cidr_blocks, "::/0"), false))
    || (
      contains([80, 443], rule.from_port) && rule.to_port == rule.from_port
      && anytrue([for r in plan.resource_changes : contains(["aws_lb", "aws_elb"], r.type) && contains(r.depends_on, resource.block_address)])
    )
  ])
  error_message = "${resource.address} allows ingress from anywhere (0.0.0.0/0 or ::/0); only ports 80 and 443 of a load balancer's security group may be open to the internet. Narrow cidr_blocks to the networks that need access."
}

policy "no-open-ingress-rules" {
  resource_types = ["aws_security_group_rule", "aws_vpc_security_group_ingress_rule"]
  enforcement    = "deny"

  condition = (
    try(change.after.type, "ingress") != "ingress"
    || !(
      try(contains(change.after.cidr_blocks, "0.0.0.0/0"), false)
      || try(contains(change.after.ipv6_cidr_blocks, "::/0"), false)
      || try(change.after.cidr_ipv4 == "0.0.0.0/0", false)
      || try(change.after.cidr_ipv6 == "::/0", false)
    )
    || (
      contains([80, 443], change.after.from_port) && change.after.to_port == change.after.from_port
      && anytrue([for r in plan.resource_changes : contains(["aws_lb", "aws_elb"], r.type) && length(setintersection(r.depends_on, resource.depends_on)) > 0])
    )
  )
  error_message = "${resource.address} allows ingress from anywhere (0.0.0.0/0 or ::/0); only ports 80 and 443 of a load balancer's security group may be open to the internet."
}
