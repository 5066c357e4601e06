// Segment the current image with NuSeT, then measure every nucleus.
original = getTitle();
run("NuSeT Segment", "min_score=0.85 add_rois");
labels = getTitle();
print(labels + ": " + getValue("Max") + " nuclei");
selectImage(original);
run("Set Measurements...", "area mean centroid shape integrated redirect=None decimal=3");
roiManager("measure");
