//! IP network functions (`cidrhost`, `cidrnetmask`, `cidrsubnet`,
//! `cidrsubnets`, `cidrcontains`) for IPv4 and IPv6, with addresses held as
//! `u128` and Terraform's (go-cidr's) validation messages.

use crate::args::Args;
use crate::{FuncContext, FuncError};
use std::net::{Ipv4Addr, Ipv6Addr};
use terrace_core::Value;

type R = Result<Value, FuncError>;

#[derive(Debug, Clone, Copy)]
struct Net {
    /// Address width: 32 or 128.
    bits: u32,
    /// The network address (host bits cleared).
    addr: u128,
    len: u32,
}

fn all_ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn mask(len: u32, bits: u32) -> u128 {
    if len == 0 {
        0
    } else {
        (all_ones(bits) << (bits - len.min(bits))) & all_ones(bits)
    }
}

/// IPv4 with Terraform's leniency: octets may have leading zeros (read as
/// decimal).
fn parse_v4(s: &str) -> Option<u32> {
    let mut out = 0u32;
    let mut count = 0;
    for part in s.split('.') {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 12 {
            return None;
        }
        let n: u32 = part.parse().ok()?;
        if n > 255 {
            return None;
        }
        out = (out << 8) | n;
        count += 1;
    }
    (count == 4).then_some(out)
}

/// An IP address as (width, value).
fn parse_ip(s: &str) -> Option<(u32, u128)> {
    if let Some(v4) = parse_v4(s) {
        return Some((32, u128::from(v4)));
    }
    s.parse::<Ipv6Addr>().ok().map(|a| (128, u128::from(a)))
}

fn parse_cidr(s: &str) -> Result<Net, String> {
    let bad = || format!("invalid CIDR expression: invalid CIDR address: {s}");
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let (bits, addr) = parse_ip(ip).ok_or_else(bad)?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u32 = len.parse().map_err(|_| bad())?;
    if len > bits {
        return Err(bad());
    }
    Ok(Net {
        bits,
        addr: addr & mask(len, bits),
        len,
    })
}

fn format_ip(bits: u32, addr: u128) -> String {
    if bits == 32 {
        return Ipv4Addr::from(addr as u32).to_string();
    }
    // Go prints IPv4-mapped IPv6 addresses in dotted form.
    if addr >> 32 == 0xffff {
        return Ipv4Addr::from(addr as u32).to_string();
    }
    Ipv6Addr::from(addr).to_string()
}

fn format_net(n: &Net) -> String {
    format!("{}/{}", format_ip(n.bits, n.addr), n.len)
}

fn prefix_arg(a: &Args<'_>, i: usize) -> Result<Net, FuncError> {
    let s = a.string(i)?;
    parse_cidr(&s).map_err(|e| {
        if a.quote(i, "") == "(sensitive value)" {
            a.error(
                i,
                "invalid CIDR expression: invalid CIDR address: (sensitive value)",
            )
        } else {
            a.error(i, e)
        }
    })
}

/// A whole number in i128 range.
fn big_int(a: &Args<'_>, i: usize) -> Result<i128, FuncError> {
    let n = a.number(i)?;
    if !n.is_finite() || n.fract() != 0.0 || n.abs() >= 1.7e38 {
        return Err(a.invalid(i, "value must be a whole number"));
    }
    Ok(n as i128)
}

pub(crate) fn cidrhost(a: &Args<'_>, _: &FuncContext) -> R {
    let net = prefix_arg(a, 0)?;
    let num = big_int(a, 1)?;
    let max = all_ones(net.bits - net.len);
    let too_big = || {
        a.error(
            1,
            format!(
                "prefix of {} does not accommodate a host numbered {num}",
                net.len
            ),
        )
    };
    let host: u128 = if num < 0 {
        let back = num.unsigned_abs() - 1;
        if back > max {
            return Err(too_big());
        }
        max - back
    } else {
        let n = num as u128;
        if n > max {
            return Err(too_big());
        }
        n
    };
    Ok(Value::string(format_ip(net.bits, net.addr | host)))
}

pub(crate) fn cidrnetmask(a: &Args<'_>, _: &FuncContext) -> R {
    let net = prefix_arg(a, 0)?;
    if net.bits != 32 {
        let s = a.string(0)?;
        return Err(a.error(
            0,
            format!(
                "IPv6 addresses cannot have a netmask: {}",
                a.quote(0, &s).trim_matches('"')
            ),
        ));
    }
    Ok(Value::string(format_ip(32, mask(net.len, 32))))
}

pub(crate) fn cidrsubnet(a: &Args<'_>, _: &FuncContext) -> R {
    let net = prefix_arg(a, 0)?;
    let newbits = a.int(1)?;
    let netnum = big_int(a, 2)?;
    if newbits < 0 {
        return Err(a.error(1, "newbits must not be negative"));
    }
    let new_len = i64::from(net.len) + newbits;
    if new_len > i64::from(net.bits) {
        return Err(a.error(
            1,
            format!(
                "insufficient address space to extend prefix of {} by {newbits}",
                net.len
            ),
        ));
    }
    let new_len = new_len as u32;
    let max = all_ones(newbits as u32);
    if netnum < 0 || netnum as u128 > max {
        return Err(a.error(
            2,
            format!(
                "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
            ),
        ));
    }
    let shift = net.bits - new_len;
    let offset = if shift >= 128 {
        0
    } else {
        (netnum as u128) << shift
    };
    Ok(Value::string(format_net(&Net {
        bits: net.bits,
        addr: net.addr | offset,
        len: new_len,
    })))
}

pub(crate) fn cidrsubnets(a: &Args<'_>, _: &FuncContext) -> R {
    let net = prefix_arg(a, 0)?;
    if a.len() < 2 {
        return Ok(Value::List(Vec::new()));
    }
    let bits = net.bits;
    // The next free address; `None` once the address space is used up.
    let mut cursor = Some(net.addr);
    let mut current: Option<Net> = None;
    let mut out = Vec::with_capacity(a.len() - 1);
    for i in 1..a.len() {
        let length = a.int(i)?;
        if length < 1 {
            return Err(a.error(i, "must extend prefix by at least one bit"));
        }
        if length > 32 {
            return Err(a.error(i, "may not extend prefix by more than 32 bits"));
        }
        let new_len = length as u32 + net.len;
        if new_len > bits {
            let protocol = if bits == 32 { "IPv4" } else { "IPv6" };
            return Err(a.error(
                i,
                format!("would extend prefix to {new_len} bits, which is too long for an {protocol} address"),
            ));
        }
        // Align the cursor up to the next boundary of a /new_len subnet.
        let host_mask = !mask(new_len, bits) & all_ones(bits);
        let start = cursor
            .and_then(|c| c.checked_add(host_mask))
            .map(|c| c & mask(new_len, bits));
        let fits = start.filter(|s| *s <= all_ones(bits) && s & mask(net.len, bits) == net.addr);
        let Some(start) = fits else {
            let after = current.map_or_else(|| format_net(&net), |c| format_net(&c));
            return Err(a.error(
                i,
                format!("not enough remaining address space for a subnet with a prefix of {new_len} bits after {after}"),
            ));
        };
        let subnet = Net {
            bits,
            addr: start,
            len: new_len,
        };
        cursor = (start | host_mask)
            .checked_add(1)
            .filter(|c| *c <= all_ones(bits));
        current = Some(subnet);
        out.push(Value::string(format_net(&subnet)));
    }
    Ok(Value::List(out))
}

pub(crate) fn cidrcontains(a: &Args<'_>, _: &FuncContext) -> R {
    let net = prefix_arg(a, 0)?;
    let other = a.string(1)?;
    let (bits, addr, len) = if other.contains('/') {
        let n = parse_cidr(&other).map_err(|e| a.error(1, e))?;
        (n.bits, n.addr, n.len)
    } else {
        let (bits, addr) = parse_ip(&other)
            .ok_or_else(|| a.error(1, format!("invalid IP address: {}", a.quote(1, &other))))?;
        (bits, addr, bits)
    };
    if bits != net.bits {
        return Err(a.error(
            1,
            "address family mismatch: both arguments must be IPv4 or both IPv6",
        ));
    }
    Ok(Value::Bool(
        len >= net.len && addr & mask(net.len, bits) == net.addr,
    ))
}
