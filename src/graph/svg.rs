//! A graph drawn as SVG by hand: layers left to right (each node one layer right of its furthest
//! predecessor; a cycle is cut where it is met), nodes as labelled boxes coloured by type, edges
//! as curves with arrows. Every node is a `<g>` with its id in `data-id` and a `<title>`.
use std::collections::HashMap;
use std::fmt::Write;

use super::wire::Graph;

const BOX_W: usize = 230;
const BOX_H: usize = 46;
const GAP_X: usize = 90;
const GAP_Y: usize = 18;
const MARGIN: usize = 20;
/// Characters of a label shown in a box (the full one is in its `<title>`).
const LABEL_CHARS: usize = 30;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        return s.to_string();
    }
    let head: String = s.chars().take(LABEL_CHARS - 1).collect();
    format!("{head}…")
}

/// (fill, stroke) by node type and component type.
fn colours(kind: &str, component_type: Option<&str>) -> (&'static str, &'static str) {
    match (kind, component_type) {
        ("table", _) => ("#e3f2fd", "#1e88e5"),
        ("flow", _) => ("#eeeeee", "#616161"),
        (_, Some("extractor")) => ("#e8f5e9", "#43a047"),
        (_, Some("transformation")) => ("#f3e5f5", "#8e24aa"),
        (_, Some("writer")) => ("#fff3e0", "#fb8c00"),
        _ => ("#fffde7", "#f9a825"),
    }
}

/// Each node's layer: the longest path to it (bounded by the node count, so cycles end).
fn layers(graph: &Graph) -> HashMap<&str, usize> {
    let mut layer: HashMap<&str, usize> = graph.nodes.iter().map(|n| (n.id.as_str(), 0)).collect();
    let limit = graph.nodes.len();
    for _ in 0..limit {
        let mut changed = false;
        for e in &graph.edges {
            let (Some(&from), Some(&to)) = (layer.get(e.from.as_str()), layer.get(e.to.as_str())) else { continue };
            if to < from + 1 && from + 1 < limit.max(1) {
                layer.insert(e.to.as_str(), from + 1);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

pub fn render(graph: &Graph) -> String {
    let layer = layers(graph);
    let mut columns: Vec<Vec<usize>> = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let l = layer.get(n.id.as_str()).copied().unwrap_or(0);
        if columns.len() <= l {
            columns.resize(l + 1, Vec::new());
        }
        columns[l].push(i);
    }
    for col in &mut columns {
        col.sort_by(|a, b| {
            let (a, b) = (&graph.nodes[*a], &graph.nodes[*b]);
            (a.kind.as_str(), a.label.as_str()).cmp(&(b.kind.as_str(), b.label.as_str()))
        });
    }
    let mut at: HashMap<&str, (usize, usize)> = HashMap::new();
    for (l, col) in columns.iter().enumerate() {
        for (row, i) in col.iter().enumerate() {
            at.insert(graph.nodes[*i].id.as_str(), (MARGIN + l * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y)));
        }
    }
    let tallest = columns.iter().map(Vec::len).max().unwrap_or(0);
    let width = MARGIN * 2 + columns.len().max(1) * (BOX_W + GAP_X) - GAP_X;
    let height = MARGIN * 2 + tallest.max(1) * (BOX_H + GAP_Y) - GAP_Y;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let title = graph.focus.as_deref().map(|f| format!("Lineage of {f}")).unwrap_or_else(|| "Project lineage".into());
    let _ = writeln!(svg, "<title>{}</title>", escape(&title));
    svg.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n",
    );
    svg.push_str("<g class=\"edges\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.4\">\n");
    for e in &graph.edges {
        let (Some(&(fx, fy)), Some(&(tx, ty))) = (at.get(e.from.as_str()), at.get(e.to.as_str())) else { continue };
        let (x1, y1) = (fx + BOX_W, fy + BOX_H / 2);
        let (x2, y2) = (tx, ty + BOX_H / 2);
        let bend = (GAP_X / 2).max(x2.abs_diff(x1) / 2);
        let dash = match e.kind.as_str() {
            "task" => " stroke-dasharray=\"5 4\" stroke=\"#999\"",
            "sql" => " stroke-dasharray=\"2 3\"",
            _ => "",
        };
        let _ = writeln!(
            svg,
            "<path class=\"edge {kind}\" data-from=\"{from}\" data-to=\"{to}\" d=\"M {x1} {y1} C {c1} {y1}, {c2} {y2}, {x2} {y2}\" marker-end=\"url(#arrow)\"{dash}/>",
            kind = escape(&e.kind),
            from = escape(&e.from),
            to = escape(&e.to),
            c1 = x1 + bend,
            c2 = x2.saturating_sub(bend),
        );
    }
    svg.push_str("</g>\n<g class=\"nodes\">\n");
    for n in &graph.nodes {
        let Some(&(x, y)) = at.get(n.id.as_str()) else { continue };
        let (fill, stroke) = colours(&n.kind, n.component_type.as_deref());
        let focus = graph.focus.as_deref() == Some(n.id.as_str());
        let sub = match n.kind.as_str() {
            "table" if !n.exists => "table (not in Storage)".to_string(),
            "table" => "table".to_string(),
            _ => n.component_id.clone().unwrap_or_default(),
        };
        let status = n.last_job.as_ref().and_then(|j| j["status"].as_str()).map(|s| format!(" · {s}")).unwrap_or_default();
        let _ = writeln!(
            svg,
            "<g class=\"node {kind}\" data-id=\"{id}\"><title>{id}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>\
             <text x=\"{tx}\" y=\"{ty1}\" font-weight=\"bold\">{label}</text>\
             <text x=\"{tx}\" y=\"{ty2}\" fill=\"#555\" font-size=\"10\">{sub}</text></g>",
            kind = escape(&n.kind),
            id = escape(&n.id),
            sw = if focus { 3 } else { 1 },
            tx = x + 8,
            ty1 = y + 19,
            ty2 = y + 36,
            label = escape(&short(&n.label)),
            sub = escape(&short(&format!("{sub}{status}"))),
        );
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}
