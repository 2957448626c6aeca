"""Print torch's LayerNorm and GroupNorm of the input in tests/core/test_norms.py as Python literals."""

import torch
import torch.nn.functional as F

Z = [
    [0.5, -1.25, 2.0, 3.5, -0.75, 1.0],
    [4.0, 4.5, -2.0, 0.25, 1.5, -3.0],
    [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0],
    [10.0, -10.0, 0.125, 0.375, 7.5, -2.5],
]
GAMMA = [1.5, -0.5, 2.0, 0.75, -1.25, 1.0]
BETA = [0.25, -1.0, 0.5, 0.0, 2.0, -0.75]
EPS = 1e-5


def main() -> None:
    z = torch.tensor(Z, dtype=torch.float64)
    gamma = torch.tensor(GAMMA, dtype=torch.float64)
    beta = torch.tensor(BETA, dtype=torch.float64)
    results = {"LAYER_NORM_TORCH": F.layer_norm(z, (z.shape[1],), gamma, beta, EPS)}
    for groups in (2, 3):
        results[f"GROUP_NORM_{groups}_TORCH"] = F.group_norm(z, groups, gamma, beta, EPS)
    for name, out in results.items():
        print(f"{name} = [")
        for row in out.tolist():
            values = [repr(float(x)) for x in row]
            print("    [")
            print(f"        {', '.join(values[:3])},")
            print(f"        {', '.join(values[3:])},")
            print("    ],")
        print("]")


if __name__ == "__main__":
    main()
