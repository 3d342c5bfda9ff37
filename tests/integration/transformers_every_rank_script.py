"""Run by test_transformers_shared.py under ``torch.distributed.run --nproc_per_node 2``: a Hugging
Face Trainer (CPU, gloo) on a tiny random GPT-2 whose ``SeeTrainCallback(all_ranks=True)`` makes each
process a writer of one shared run."""

import os

import torch
import transformers

from seetrain.integration.callbacks.transformers import SeeTrainCallback

VOCAB = 32


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int, length: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = (torch.randint(0, VOCAB, (n, 1), generator=g) + torch.arange(length)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    args = transformers.TrainingArguments(
        output_dir=os.path.join(os.environ["SEETRAIN_LOGDIR"], "out"), max_steps=4, per_device_train_batch_size=4,
        learning_rate=5e-3, logging_steps=2, save_strategy="no", report_to="none", use_cpu=True,
        ddp_backend="gloo", disable_tqdm=True, dataloader_num_workers=0, seed=0)
    callback = SeeTrainCallback(project="hf", experiment_name="every-rank", all_ranks=True)
    trainer = transformers.Trainer(model=transformers.GPT2LMHeadModel(cfg), args=args, train_dataset=Tokens(64),
                                   callbacks=[callback])
    trainer.train()
    print(f"rank {trainer.args.process_index} writer {callback.experiment.writer.label}", flush=True)


if __name__ == "__main__":
    main()
