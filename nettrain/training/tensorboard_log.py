"""TensorBoard event files in RUN/tensorboard/, written with tensorboardX.

One scalar per history column (but `epoch`), tagged with the column's name, at step = the
epoch number, so `tensorboard --logdir runs` shows every run; with --diagnose, a histogram of
every parameter array (`layers.0.W`, ...) per epoch too. A resumed run writes a new event
file into the same folder that starts by purging the steps after its checkpoint, so an epoch
logged twice (by the run that stopped and by the resumed one) shows once.
"""

import time

from nettrain.training.callbacks import Callback


class TensorBoardLogger(Callback):
    """Writes each epoch's logs (and, with `histograms`, the parameters) as TensorBoard events.

    Args:
        folder: where the event files go (RUN/tensorboard). columns: the history columns.
        histograms: also a histogram of every parameter array at each epoch's end.
    """

    def __init__(self, folder, columns, histograms=False):
        self.folder, self.histograms = folder, histograms
        self.columns = [c for c in columns if c != "epoch"]
        self.writer = None

    def on_train_begin(self, trainer):
        from tensorboardX import SummaryWriter

        # purge_step: TensorBoard drops what an earlier process logged from this step on. The
        # file name has the second it was made; the suffix keeps a resume within that second
        # from overwriting the file before it (and sorts after it).
        self.writer = SummaryWriter(logdir=str(self.folder), purge_step=trainer.epoch + 1,
                                    flush_secs=30, filename_suffix=f".{time.time_ns()}")

    def on_epoch_end(self, trainer, logs):
        epoch = int(logs["epoch"])
        for column in self.columns:
            if logs.get(column) is not None:
                self.writer.add_scalar(column, float(logs[column]), epoch)
        if self.histograms:
            for key, param, _ in trainer.model.named_params():
                self.writer.add_histogram(key, param, epoch)
        self.writer.flush()

    def on_train_end(self, trainer):
        if self.writer is not None:
            self.writer.close()

    def finish(self, path, status):
        """Nothing more to write: the events are complete when training ends."""
