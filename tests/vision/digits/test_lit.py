from vision.digits.lit import DigitsData


def test_epoch_length_is_known_so_the_lr_schedule_spans_the_run(tmp_path):
    # An unsized training stream made Lightning size OneCycleLR to warm-up + 1 steps, which then
    # stopped training with "Tried to step 302 times": the loader must report its batches per epoch.
    module = DigitsData(data_root=str(tmp_path), batch_size=8, samples_per_epoch=64, num_workers=0, val_synthetic=4)
    module.setup("fit")
    loader = module.train_dataloader()
    assert len(loader) == 8
    assert sum(1 for _ in loader) == 8
