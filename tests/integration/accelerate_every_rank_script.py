"""Run by test_accelerate_shared.py under ``torch.distributed.run --nproc_per_node 2``: two CPU
processes (gloo) train a tiny model; ``SeeTrainTracker(all_ranks=True)`` makes each a writer of one
shared run, and each logs its own loss through the tracker."""

import torch
from accelerate import Accelerator

from seetrain.integration.trackers.accelerate import SeeTrainTracker


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tracker = SeeTrainTracker(project="ddp-project", experiment_name="every-rank", all_ranks=True)
    accelerator = Accelerator(log_with=[tracker], cpu=True)
    accelerator.init_trackers("ddp-project", config={"world_size": accelerator.num_processes})
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    model, optimizer = accelerator.prepare(model, optimizer)
    rank = accelerator.process_index
    x = torch.randn(16, 4) + rank  # each process its own data: its own loss
    y = x.sum(dim=1, keepdim=True)
    for step in range(3):
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        tracker.log({"train/loss": loss.item(), "rank": rank}, step=step)  # every process
    print(f"rank {rank} writer {tracker.experiment.writer.label}", flush=True)
    accelerator.end_training()


if __name__ == "__main__":
    main()
