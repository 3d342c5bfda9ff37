"""Run by test_accelerate.py under ``torch.distributed.run --nproc_per_node 2``: two CPU processes
(gloo) train a tiny model with a SeeTrainTracker; only the main process may write a run."""

import torch
from accelerate import Accelerator

from seetrain.integration.trackers.accelerate import SeeTrainTracker


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tracker = SeeTrainTracker(experiment_name="two-procs")
    accelerator = Accelerator(log_with=[tracker], cpu=True)
    accelerator.init_trackers("ddp-project", config={"world_size": accelerator.num_processes})
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model, optimizer = accelerator.prepare(model, optimizer)
    x = torch.randn(16, 4)
    y = x.sum(dim=1, keepdim=True)
    for step in range(3):
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        accelerator.log({"train/loss": loss.item(), "rank": accelerator.process_index}, step=step)
    print(f"rank {accelerator.process_index} run mode {tracker.experiment.mode}", flush=True)
    accelerator.end_training()


if __name__ == "__main__":
    main()
