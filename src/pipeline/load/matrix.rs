//! `matrix:` steps: checking the matrix, and expanding it into one step per cell.

use crate::pipeline::file::MatrixFile;
use crate::pipeline::locate::YamlPath;
use crate::pipeline::model::{MatrixCell, Step};

use super::lowering::{Lowering, MatrixPlan, is_id};

/// Most cells one `matrix:` step may expand into.
pub(super) const MAX_MATRIX_CELLS: usize = 256;

/// How many cells a matrix as written has (saturating), for messages.
pub(super) fn matrix_size(matrix: Option<&MatrixFile>) -> usize {
    matrix.map_or(1, |m| {
        m.0.iter()
            .fold(1usize, |n, (_, values)| n.saturating_mul(values.len()))
    })
}

/// The id of one cell: `deploy[REGION=eu,TIER=web]`.
pub(super) fn cell_id(group: &str, values: &[(String, String)]) -> String {
    let inner: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{group}[{}]", inner.join(","))
}

/// The steps in `order`, each matrix step replaced by its cells (next to each other, in
/// expansion order), with `needs` as indices: a step that needs a matrix step needs each of
/// its cells, and each cell needs what the written step needs.
pub(super) fn expand(
    order: &[usize],
    deps: &[Vec<usize>],
    mut built: Vec<Option<(Step, Option<MatrixPlan>)>>,
) -> Vec<Step> {
    let mut ranges: Vec<std::ops::Range<usize>> = vec![0..0; deps.len()];
    let mut steps: Vec<Step> = Vec::with_capacity(order.len());
    for &old in order {
        let start = steps.len();
        let Some((mut step, plan)) = built[old].take() else {
            ranges[old] = start..start;
            continue;
        };
        let mut needs: Vec<usize> = deps[old].iter().flat_map(|&d| ranges[d].clone()).collect();
        needs.sort_unstable();
        needs.dedup();
        step.needs = needs;
        match plan {
            None => steps.push(step),
            Some(plan) => {
                for values in plan.cells {
                    let mut cell = step.clone();
                    cell.id = cell_id(&step.id, &values);
                    cell.matrix = Some(MatrixCell {
                        group: step.id.clone(),
                        values,
                        fail_fast: plan.fail_fast,
                        max_parallel: plan.max_parallel,
                    });
                    steps.push(cell);
                }
            }
        }
        ranges[old] = start..steps.len();
    }
    steps
}

impl Lowering<'_> {
    /// The cells of a `matrix:`: cartesian product, keys in file order (the first varies
    /// slowest), values in list order. `None` when the matrix has problems (reported).
    pub(super) fn matrix(
        &mut self,
        matrix: &MatrixFile,
        path: &YamlPath,
    ) -> Option<Vec<Vec<(String, String)>>> {
        let before = self.diags.count();
        if matrix.0.is_empty() {
            self.diags.at(
                path,
                "`matrix` is empty; give at least one KEY: [values], e.g. { REGION: [eu, us] }",
            );
        }
        let mut count = 1usize;
        for (key, values) in &matrix.0 {
            let key_path = path.key(key);
            if !is_id(key) {
                self.diags.at(
                    &key_path,
                    format!(
                        "matrix key `{key}` may use only letters, digits, `-` and `_` (templates \
                         read it as `matrix.<KEY>`)"
                    ),
                );
            }
            if values.is_empty() {
                self.diags.at(
                    &key_path,
                    format!(
                        "matrix key `{key}` has no values; list at least one, e.g. {key}: [a, b]"
                    ),
                );
            }
            count = count.saturating_mul(values.len());
            for (j, value) in values.iter().enumerate() {
                let value = &value.0;
                let value_path = key_path.index(j);
                if value.trim().is_empty() {
                    self.diags.at(
                        &value_path,
                        format!(
                            "{key_path}[{j}] is empty or null; give each matrix value as text, \
                             e.g. eu"
                        ),
                    );
                } else if value.chars().any(|c| ",=[]".contains(c) || c.is_control()) {
                    self.diags.at(
                        &value_path,
                        format!(
                            "matrix value `{}` may not contain `,`, `=`, `[`, `]` or control \
                             characters: they would make cell ids such as `deploy[{key}=eu]` \
                             ambiguous",
                            value.escape_debug()
                        ),
                    );
                } else if values[..j].iter().any(|seen| seen.0 == *value) {
                    self.diags.at(
                        &value_path,
                        format!("matrix value `{value}` is listed twice under `{key}`; keep one"),
                    );
                }
            }
        }
        if count > MAX_MATRIX_CELLS {
            self.diags.at(
                path,
                format!(
                    "the matrix has {count} combinations, more than the {MAX_MATRIX_CELLS} \
                     allowed; use fewer values or split the step"
                ),
            );
        }
        if self.diags.count() != before {
            return None;
        }
        let mut cells: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (key, values) in &matrix.0 {
            cells = cells
                .iter()
                .flat_map(|cell| {
                    values.iter().map(move |value| {
                        let mut cell = cell.clone();
                        cell.push((key.clone(), value.0.clone()));
                        cell
                    })
                })
                .collect();
        }
        Some(cells)
    }
}
