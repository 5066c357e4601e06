"""CellProfiler integration (the RunNuSeT module).

Not built yet: tracked by the issue "CellProfiler module RunNuSeT, tested in
a real headless CellProfiler". Until then use ``nuset segment`` and load the
label TIFFs in CellProfiler with NamesAndTypes ("objects" image type).
"""
